"""mgrit-train: parallel-in-time training with MGRIT, launched with mpirun.

    mpirun -n 4 mgrit-train run examples/xor.yaml

Rank 0 alone prints.  Exit status: 0 success; 1 a failed run (diverged
training, an exception on any rank: the whole job ends with its traceback);
2 a bad problem file or bad usage (printed once, nothing written).
"""
import os
import platform
import sys
import traceback
import warnings
from pathlib import Path

import click
import numpy as np

import pyxbraid
from pyxbraid import MPI
from pyxbraid.config import ProblemError, dump_problem, load_problem
from pyxbraid.train import train_serial, train_sgd_time
from pyxbraid.train.problem import build, load_data

from pyxbraid.cli import plots
from pyxbraid.cli.progress import Progress
from pyxbraid.cli.rundir import PROBLEM, RunDir, new_run_dir, timestamp
from pyxbraid.cli.runner import TrainingDiverged, run as run_training, run_resnet

COMM = MPI.COMM_WORLD


def _echo(message="", err=False):
    if COMM.rank == 0:
        click.echo(message, err=err)


_OVERRIDES = click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
                          help="Override a field of the problem, e.g. --set mgrit.cfactor=4.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(pyxbraid.__version__, prog_name="mgrit-train")
def cli():
    """Parallel-in-time training of neural networks with MGRIT (XBraid's algorithm).

    Launch with mpirun: the time steps (SGD iterations) are spread over the ranks."""


@cli.command()
@click.argument("problem_file", required=False, type=click.Path(dir_okay=False))
@_OVERRIDES
@click.option("--out", type=click.Path(file_okay=False),
              help="Run folder (default: OUTPUT.DIR/NAME; a numbered one if it exists).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False),
              help="Continue the run in this folder from its last checkpoint.")
@click.option("--force", is_flag=True, help="Reuse the run folder, deleting what is in it.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress: a bar on a terminal, otherwise a line every N steps.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def run(problem_file, overrides, out, resume_dir, force, progress, quiet):
    """Train PROBLEM_FILE (YAML) and write a run folder: problem.yaml,
    metrics.jsonl, summary.json, weights.npz, checkpoint.npz and plots."""
    resume = None
    if resume_dir:
        run_dir = RunDir(resume_dir)
        if not (run_dir.path / PROBLEM).exists():
            raise ProblemError(f"--resume {resume_dir}", "", "not a run folder (no problem.yaml)")
        problem = load_problem(run_dir.path / PROBLEM)
        if problem_file or overrides:
            given = load_problem(problem_file or run_dir.path / PROBLEM, overrides)
            if given != problem:
                raise ProblemError(f"--resume {resume_dir}", "", "the problem differs from "
                                   "the one of the run (drop PROBLEM_FILE and --set to resume)")
        checkpoint = None
        if COMM.rank == 0:  # read once, sent to every rank
            checkpoint = run_dir.checkpoint()
            run_dir.truncate_metrics(checkpoint[3] if checkpoint else 0)
        checkpoint = COMM.bcast(checkpoint)
        resume = checkpoint
    else:
        if not problem_file:
            raise click.UsageError("give PROBLEM_FILE, or --resume RUN_DIR")
        problem = load_problem(problem_file, overrides)
    datasets = _load_data(problem, problem_file or f"{resume_dir}/{PROBLEM}")
    if not resume_dir:
        path = None
        if COMM.rank == 0:
            path = str(new_run_dir(out or Path(problem.output.dir) / problem.name, force))
            RunDir(path).write_problem(dump_problem(problem))
        run_dir = RunDir(COMM.bcast(path))
    writer = run_dir if COMM.rank == 0 else None
    report = Progress(problem.train.steps, enabled=progress and not quiet and COMM.rank == 0,
                      every=problem.output.progress_every)
    if not quiet:
        _echo(f"mgrit-train: {problem.name} ({problem.mode}), {problem.train.steps} steps on "
              f"{COMM.size} rank{'s' if COMM.size > 1 else ''}"
              + (f", resumed at step {resume[1]}" if resume else "") + f" -> {run_dir.path}")
    try:
        train = run_training if problem.network.kind == "mlp" else run_resnet
        weights, summary = train(problem, datasets, writer, COMM, report, resume, run_dir)
    except TrainingDiverged as e:
        if writer is not None:
            writer.write_summary(dict(name=problem.name, mode=problem.mode, status="diverged",
                                      message=str(e)))
        raise
    summary["run_dir"] = str(run_dir.path)
    if writer is not None:
        writer.write_summary(summary)
        writer.save_weights(weights, dict(name=problem.name, mode=problem.mode,
                                          network=problem.network.model_dump(mode="json"),
                                          steps=problem.train.steps,
                                          seed=problem.seed, final=summary["final"],
                                          pyxbraid=pyxbraid.__version__, created=timestamp()))
        if problem.output.plots:
            plots.draw(run_dir.path, run_dir.metrics())
    if not quiet:
        _echo(_summary_text(summary))


def _load_data(problem, source):
    """The datasets, read before anything is written: a bad data file is a
    problem error (exit 2) naming the file."""
    try:
        return load_data(problem)
    except (ValueError, OSError) as e:
        raise ProblemError(source, f"data ({problem.data.kind})", str(e)) from None


def _summary_text(s):
    lines = [f"  final loss {s['final']['loss']:.6g}, accuracy {s['final']['accuracy']:.4g}"
             + (f", validation accuracy {s['final']['validation_accuracy']:.4g}"
                if "validation_accuracy" in s["final"] else ""),
             f"  wall time {s['wall_time']:.2f} s"]
    if s["mode"] == "layer-parallel":
        lines.insert(0, f"  layer-parallel ({s['solver_mode']}): forward/adjoint MGRIT iterations "
                        f"per step {s['forward_iterations']:.1f}/{s['adjoint_iterations']:.1f}")
        lines.append(f"  model speed-up {s['model_speedup']:.2f}x (one rank per coarse interval)")
    if s["mode"] == "sgd-time":
        iterations = s["mgrit_iterations"]
        lines.insert(0, f"  MGRIT: {sum(iterations)} iterations over {len(iterations)} "
                        f"window{'s' if len(iterations) > 1 else ''}, last residual "
                        f"{s['final_residual']:.3e} (tol {s['tol']:g}"
                        f"{', relative' if s['tol_relative'] else ''})")
        lines.append(f"  model speed-up {s['model_speedup']:.2f}x (one rank per coarse interval)")
    lines.append(f"  run folder: {s['run_dir']}")
    return "\n".join(lines)


@cli.command()
@click.argument("problem_file", type=click.Path(dir_okay=False))
@_OVERRIDES
def validate(problem_file, overrides):
    """Check PROBLEM_FILE and print the resolved problem (every default filled in)."""
    problem = load_problem(problem_file, overrides)
    _echo(f"# {problem_file}: valid\n" + dump_problem(problem).rstrip())


@cli.command()
@click.argument("problem_file", type=click.Path(dir_okay=False))
@_OVERRIDES
@click.option("--tol", type=float, default=1e-6, show_default=True,
              help="Largest accepted difference, relative to 1 + max|w|.")
def compare(problem_file, overrides, tol):
    """Run MGRIT and serial training on PROBLEM_FILE and compare the weights:
    exit 1 if they differ by more than TOL (a regression check)."""
    problem = load_problem(problem_file, overrides)
    if problem.network.kind != "mlp":
        raise ProblemError(problem_file, "network.kind", "compare checks MGRIT over SGD steps "
                           "(an mlp); for a resnet run mode layer-parallel with "
                           "layer_parallel.mode exact and mode serial")
    training = build(problem, _load_data(problem, problem_file))
    mgrit = problem.mgrit
    result = train_sgd_time(training.step, training.w0, problem.train.steps, COMM,
                            mgrit.initial_guess, mgrit.coarse_data, **mgrit.core_options())
    serial = train_serial(training.step, training.w0, problem.train.steps)
    scale = 1.0 + float(np.max(np.abs(serial)))
    difference = float(np.max(np.abs(result.weights - serial)))
    passed = difference <= tol * scale
    _echo(f"{problem.name}: {problem.train.steps} steps, MGRIT {result.niter} iterations on "
          f"{COMM.size} rank{'s' if COMM.size > 1 else ''}\n"
          f"  max |w_mgrit - w_serial| = {difference:.3e}  (limit {tol:g} x {scale:.3g})\n"
          f"  {'PASS' if passed else 'FAIL'}")
    if not passed:
        sys.exit(1)


@cli.command()
def info():
    """Versions, the MPI library, the braid library in use and the number of ranks."""
    import mpi4py

    library = " ".join(MPI.Get_library_version().split("\n")[0].split())
    major, minor = MPI.Get_version()
    _echo("\n".join([
        f"pyxbraid      {pyxbraid.__version__}",
        f"braid library {pyxbraid.BRAID_LIBRARY} " + {
            "vendored": "(vendor/xbraid, this project's implementation of XBraid v3.1)",
            "upstream": "(LLNL XBraid, XBRAID_DIR)",
            "stand-in": "(vendor/xbraid acting as upstream XBraid, PYXBRAID_LIBRARY)",
        }[pyxbraid.BRAID_LIBRARY],
        f"python        {platform.python_version()} ({sys.executable})",
        f"numpy         {np.__version__}",
        f"mpi4py        {mpi4py.__version__}",
        f"MPI           {library} (MPI {major}.{minor})",
        f"ranks         {COMM.size}",
    ]))


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
def plot(run_dir):
    """Draw the plots of a finished run: residual.png, loss.png, accuracy.png."""
    folder = RunDir(run_dir)
    metrics = folder.metrics()
    if not (folder.path / PROBLEM).exists() or not metrics:
        raise ProblemError(run_dir, "", "not a run folder with metrics (problem.yaml, "
                           "metrics.jsonl)")
    if COMM.rank == 0:
        for path in plots.draw(folder.path, metrics):
            click.echo(str(path))


def main(argv=None):
    """The console script: one place that turns errors into exit statuses."""
    if COMM.rank != 0:
        sys.stdout = open(os.devnull, "w")  # rank 0 alone prints
        warnings.simplefilter("ignore")
    try:
        cli.main(args=argv, prog_name="mgrit-train", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        if COMM.rank == 0:
            e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        _echo("aborted", err=True)
        sys.exit(1)
    except ProblemError as e:
        _echo(f"mgrit-train: error: {e}", err=True)
        sys.exit(2)
    except TrainingDiverged as e:
        _echo(f"mgrit-train: {e}", err=True)
        sys.exit(1)
    except Exception:
        # an exception on any rank: its traceback, then the job ends (MPI_Abort
        # at exit, so the other ranks do not wait forever)
        traceback.print_exc()
        sys.stderr.flush()
        if COMM.size > 1:
            from mpi4py.run import set_abort_status
            set_abort_status(1)
        sys.exit(1)


if __name__ == "__main__":
    main()
