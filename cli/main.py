"""mgrit-train: parallel-in-time training with MGRIT, launched with mpirun.

    mpirun -n 4 mgrit-train run examples/xor.yaml

Rank 0 alone prints.  Exit status: 0 success (or a resumed run that was
already finished); 1 a failed run (diverged training, a file of the run
folder that cannot be written, an exception on any rank: the whole job ends
with its traceback); 2 a bad problem file, bad data, a run folder that
cannot be used, or bad usage (printed once, nothing written).

Whatever one rank finds wrong before training (its problem file, its data
files, the memory, the run folder) is agreed on by every rank first
(pyxbraid.cli.agree), so that every rank exits the same way and none waits.
"""
import hashlib
import json
import math
import os
import platform
import sys
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import click
import numpy as np
from mpi4py import MPI

import pyxbraid
from pyxbraid.abort import abort_at_exit
from pyxbraid.cli.config import (ProblemError, changed_fields, dump_problem, load_problem,
                             problem_error, problem_json, resolved, unused_given,
                             validate_problem, with_mode)
from pyxbraid.cli.problem import DataError, check_parallel, data_sizes, load_data

from pyxbraid.cli import plots
from pyxbraid.cli.agree import RunFinished, TrainingDiverged, agreed
from pyxbraid.cli.memory import check_memory
from pyxbraid.cli.progress import Progress
from pyxbraid.cli.rundir import (PROBLEM, Checkpoint, RunDir, RunFailed, RunLock, new_run_dir,
                                 timestamp)
from pyxbraid.cli.runner import Recorder, train_problem, without_warm_starts

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


# ------------------------------------------------------- shared stages

def _on_root(function, *args):
    """Collective: function(*args) on rank 0 (None elsewhere), its error
    raised on every rank."""
    return agreed(COMM, lambda: function(*args) if COMM.rank == 0 else None)


def _same_everywhere(value, error):
    """Collective: `error` on every rank unless every rank has `value`."""
    values = COMM.allgather(value) if COMM.size > 1 else [value]
    differing = [rank for rank, v in enumerate(values) if v != values[0]]
    if differing:
        raise ProblemError(error.where, error.field, f"{error.message} (rank 0 and rank "
                           f"{differing[0]} differ)")


def _node_ranks():
    """Collective: the number of ranks on this rank's machine."""
    local = COMM.Split_type(MPI.COMM_TYPE_SHARED)
    size = local.size
    local.Free()
    return size


def _load(problem_file, overrides):
    problem = agreed(COMM, load_problem, problem_file, overrides)
    _same_everywhere(problem_json(problem), ProblemError(
        str(problem_file), "", "the problem differs between ranks: every rank must read the "
        "same file (a relative path from another working directory?)"))
    return problem


def _data(problem, node_ranks):
    """The datasets, on every rank: the data files checked (regular IDX
    files), the memory the run needs checked against this machine's, then
    read; a bad file is a problem error (exit 2) naming its field, and all
    of it happens before anything is written."""
    def prepare():
        try:
            sizes = data_sizes(problem)
            check_parallel(problem, sizes, COMM.size)
            check_memory(problem, sizes, COMM.size, node_ranks)
            return load_data(problem)
        except DataError as e:
            raise problem_error(problem, e.field, str(e)) from None
        except (ValueError, OSError) as e:
            raise problem_error(problem, "data.kind", str(e)) from None

    datasets = agreed(COMM, prepare)
    if COMM.size == 1:
        return datasets
    digest = hashlib.sha256()
    for dataset in datasets:
        if dataset is not None:
            digest.update(dataset.x.tobytes())
            digest.update(dataset.y.tobytes())
    _same_everywhere(digest.hexdigest(), problem_error(
        problem, "data", "the data differs between ranks: every rank must read the same "
        "files (a relative path from another working directory?)"))
    return datasets


# --------------------------------------------------------------- run

@cli.command()
@click.argument("problem_file", required=False, type=click.Path(dir_okay=False))
@_OVERRIDES
@click.option("--out", type=click.Path(file_okay=False),
              help="Run folder (default: OUTPUT.DIR/NAME; a numbered one if it exists).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False),
              help="Continue the run in this folder from its last checkpoint (on any number "
                   "of ranks); a finished run is left as it is.")
@click.option("--force", is_flag=True, help="Replace the run folder given by --out (only a "
              "run folder: one with problem.yaml).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress: a bar on a terminal, otherwise a line every N steps.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors (no warnings).")
def run(problem_file, overrides, out, resume_dir, force, progress, quiet):
    """Train PROBLEM_FILE (YAML) and write a run folder: problem.yaml,
    metrics.jsonl, summary.json, weights.npz, checkpoint.npz and plots."""
    if resume_dir and (out or force):
        raise click.UsageError("--resume continues a run in its own folder: it takes no "
                               "--out or --force")
    if not resume_dir and not problem_file:
        raise click.UsageError("give PROBLEM_FILE, or --resume RUN_DIR")
    with warnings.catch_warnings():
        if quiet:  # numpy's RuntimeWarnings (overflow, ...) and ours; errors still print
            warnings.simplefilter("ignore")
        _run(problem_file, overrides, out, resume_dir, force, progress, quiet)


def _resume_problem(resume_dir, problem_file, overrides):
    """The problem of a run folder (PROBLEM_FILE and --set may repeat it)."""
    folder = RunDir(resume_dir)
    if not folder.is_run():
        raise ProblemError(f"--resume {resume_dir}", "", "not a run folder (no problem.yaml)")
    problem = load_problem(folder.path / PROBLEM)
    if problem_file or overrides:
        given = load_problem(problem_file or folder.path / PROBLEM, overrides)
        changed = changed_fields(resolved(problem), resolved(given))
        if changed:
            raise ProblemError(f"--resume {resume_dir}", changed[0], "differs from the run's "
                               "problem (drop PROBLEM_FILE and --set to resume)")
    return problem


@dataclass
class _Held:
    """Rank 0's hold on its run folder: the lock, and for a resumed run the
    checkpoint (None: none was written) and the metrics records it counts."""
    lock: RunLock
    path: Path
    checkpoint: Optional[Checkpoint] = None
    records: list = field(default_factory=list)


def _open_resume(folder, problem):
    """Rank 0: the run folder locked, as a _Held; RunFinished for a finished
    run (nothing touched)."""
    summary = folder.summary()
    if summary is not None and summary.get("status") == "completed":
        raise RunFinished(f"{folder.path}: the run is finished ({summary.get('steps')} steps, "
                          f"summary.json says completed); nothing to resume")
    lock = RunLock(folder.path).acquire()
    try:
        checkpoint = folder.checkpoint()
        if checkpoint is not None:
            _check_unchanged(folder, problem, checkpoint)
            _check_ranks(folder, checkpoint)
        records = folder.metrics(limit=checkpoint.metrics_lines if checkpoint else 0)
        return _Held(lock, folder.path, checkpoint, records)
    except BaseException:
        lock.release()
        raise


def _check_unchanged(folder, problem, checkpoint):
    """ProblemError when problem.yaml was edited after the checkpoint (the
    output section aside: it does not change what is computed)."""
    try:
        before = json.loads(checkpoint.problem)
    except ValueError:
        before = None
    now = json.loads(problem_json(problem))
    if not isinstance(before, dict):
        raise ProblemError(str(folder.path / "checkpoint.npz"), "", "the checkpoint does not "
                           "say which problem it belongs to")
    changed = [f for f in changed_fields(before, now) if not f.startswith("output.")]
    if changed:
        raise ProblemError(str(folder.path / PROBLEM), ", ".join(changed),
                           f"changed since the checkpoint of step {checkpoint.step}; restore "
                           f"it to resume, or start a new run with the new problem")


def _check_ranks(folder, checkpoint):
    """ProblemError when the checkpoint binds the run to its number of ranks
    (mode averaging: each rank's shard and state) and this job has another."""
    ranks = checkpoint.history.get("resume_ranks")
    if ranks is not None and ranks != COMM.size:
        raise ProblemError(f"--resume {folder.path}", "", f"this run resumes on the {ranks} "
                           f"rank{'s' if ranks > 1 else ''} it ran on (each rank trains its "
                           f"own shard of the data, with its own state), not on {COMM.size}")


def _create_folder(base, force, problem):
    """Rank 0: a new run folder, locked, holding problem.yaml, as a _Held."""
    path = new_run_dir(base, force)
    lock = RunLock(path).acquire()
    try:
        RunDir(path).write_problem(dump_problem(problem))
    except BaseException:
        lock.release()
        raise
    return _Held(lock, path)


def _run(problem_file, overrides, out, resume_dir, force, progress, quiet):
    node_ranks = _node_ranks()
    held = None  # rank 0: the _Held run folder
    try:
        if resume_dir:
            problem = agreed(COMM, _resume_problem, resume_dir, problem_file, overrides)
            _same_everywhere(problem_json(problem), ProblemError(
                f"--resume {resume_dir}", "", "the problem differs between ranks"))
        else:
            problem = _load(problem_file, overrides)
        datasets = _data(problem, node_ranks)
        checkpoint = None
        if resume_dir:
            folder = RunDir(resume_dir)
            held = _on_root(_open_resume, folder, problem)
            _on_root(lambda: folder.truncate_metrics(held.records))
            checkpoint = COMM.bcast(without_warm_starts(held.checkpoint) if held else None)
            if COMM.rank == 0:
                checkpoint = held.checkpoint
        else:
            held = _on_root(_create_folder, out or Path(problem.output.dir) / problem.name,
                            force, problem)
        path = Path(COMM.bcast(str(held.path) if held else None))
        _train(problem, datasets, RunDir(path), checkpoint, progress, quiet)
    finally:
        if held is not None:
            held.lock.release()


def _train(problem, datasets, folder, checkpoint, progress, quiet):
    recorder = Recorder(COMM, folder, checkpoint)
    report = Progress(problem.train.steps, enabled=progress and not quiet and COMM.rank == 0,
                      every=problem.output.progress_every)
    if not quiet:
        _echo(f"mgrit-train: {problem.name} ({problem.mode}), {problem.train.steps} steps on "
              f"{COMM.size} rank{'s' if COMM.size > 1 else ''}"
              + (f", resumed at step {checkpoint.step}" if checkpoint else "")
              + f" -> {folder.path}")
    try:
        weights, summary = train_problem(problem, datasets, COMM, recorder, report, checkpoint)
        summary["run_dir"] = str(folder.path)
        if COMM.rank == 0:
            recorder.error = _write_results(folder, problem, weights, summary)
        recorder.agree()
    except TrainingDiverged as e:
        _write_failure(folder, problem, "diverged", e)
        raise
    except RunFailed as e:
        _write_failure(folder, problem, "failed", e)
        raise
    if not quiet:
        _echo(_summary_text(summary))


def _write_results(folder, problem, weights, summary):
    """Rank 0: weights, plots, then the summary (last: it says completed only
    when everything else is written); the RunFailed of a write, or None."""
    try:
        folder.save_weights(weights, dict(name=problem.name, mode=problem.mode,
                                          network=problem.network.model_dump(mode="json"),
                                          steps=problem.train.steps,
                                          seed=problem.seed, final=summary["final"],
                                          pyxbraid=pyxbraid.__version__, created=timestamp()))
        if problem.output.plots:
            _draw(folder)
        folder.write_summary(summary)
    except RunFailed as e:
        return e
    return None


def _draw(folder):
    try:
        return plots.draw(folder.path, folder.metrics())
    except OSError as e:
        raise RunFailed(f"cannot write the plots in {folder.path}: {e.strerror or e}") from None


def _write_failure(folder, problem, status, error):
    """Rank 0: a summary that says how the run ended, if it can be written."""
    if COMM.rank != 0:
        return
    try:
        folder.write_summary(dict(name=problem.name, mode=problem.mode, status=status,
                                  message=str(error)))
    except RunFailed:
        pass


def _summary_text(s):
    lines = [f"  final loss {s['final']['loss']:.6g}, accuracy {s['final']['accuracy']:.4g}"
             + (f", validation accuracy {s['final']['validation_accuracy']:.4g}"
                if "validation_accuracy" in s["final"] else ""),
             f"  wall time {s['wall_time']:.2f} s"]
    speedup = s.get("model_speedup")
    if s["mode"] == "layer-parallel":
        lines.insert(0, f"  layer-parallel ({s['solver_mode']}): forward/adjoint MGRIT iterations "
                        f"per step {s['forward_iterations']:.1f}/{s['adjoint_iterations']:.1f}")
    if s["mode"] == "sgd-time":
        iterations, residual = s["mgrit_iterations"], s["final_residual"]
        lines.insert(0, f"  MGRIT: {sum(iterations)} iterations over {len(iterations)} "
                        f"window{'s' if len(iterations) > 1 else ''}, last residual "
                        + (f"{residual:.3e}" if residual >= 0 else "not computed")
                        + f" (tol {s['tol']:g}{', relative' if s['tol_relative'] else ''})")
    if "data_groups" in s:
        lines.insert(0, _data_parallel_text(s))
    if s["mode"] != "serial" and speedup is not None:
        lines.append(f"  model speed-up {speedup:.2f}x (one rank per coarse interval)")
    if "gemm" in s:
        gemm = s["gemm"]
        rate = f", {gemm['gflops']:.1f} GFLOP/s" if gemm["gflops"] is not None else ""
        lines.append(f"  tiled GEMM: {gemm['products']} products on {gemm['workers']} "
                     f"worker{'s' if gemm['workers'] > 1 else ''} (output tiles "
                     f"{'/'.join(map(str, gemm['tiles']))}), {gemm['seconds']:.2f} s{rate}, "
                     f"peak {gemm['peak_bytes'] / 2**20:.1f} MiB of caches and buffers")
    lines.append(f"  run folder: {s['run_dir']}")
    return "\n".join(lines)


def _data_parallel_text(s):
    """The summary's line on data parallelism (mode averaging, data groups)."""
    groups = s["data_groups"]
    who = (f"{groups} rank{'s' if groups > 1 else ''}" if s["mode"] == "averaging"
           else f"{groups} data groups")
    if s["averaged"] == "models":
        text = (f"  averaging: {s['averages']} model averages ({s['method']}, every "
                f"{s['every']} steps) over {who}")
    else:
        text = f"  data parallel: {who}, the gradient averaged every step"
    if "optimizer" in s:
        text += f", optimizer {s['optimizer']}"
    if s["capped_steps"]:
        text += f"; {s['capped_steps']} local steps capped by max_change"
    if "pretrain" in s:
        p = s["pretrain"]
        text += (f"\n  pretraining ({p['kind']}): {p['epochs']} epoch{'s' if p['epochs'] > 1 else ''} "
                 f"per hidden layer, {p['averages']} averages, {p['seconds']:.2f} s")
    return text


# ---------------------------------------------------------- validate

@cli.command()
@click.argument("problem_file", type=click.Path(dir_okay=False))
@_OVERRIDES
def validate(problem_file, overrides):
    """Check PROBLEM_FILE and print the resolved problem: the fields that
    apply to its kinds and mode, every default filled in."""
    problem = _load(problem_file, overrides)
    unused = unused_given(problem)
    _echo(f"# {problem_file}: valid\n"
          + (f"# not used by mode {problem.mode} with these settings: {', '.join(unused)}\n"
             if unused else "")
          + dump_problem(problem).rstrip())


# ----------------------------------------------------------- compare

def _tolerance(ctx, param, value):
    if not math.isfinite(value) or value < 0:
        raise click.BadParameter(f"must be a finite number >= 0, got {value}")
    return value


@cli.command()
@click.argument("problem_file", type=click.Path(dir_okay=False))
@_OVERRIDES
@click.option("--tol", type=float, default=1e-6, show_default=True, callback=_tolerance,
              help="Largest accepted difference of the weights, relative to 1 + max|w| "
                   "(sgd-time; layer-parallel exact with one data group; averaging on one "
                   "rank).")
@click.option("--accuracy-tol", type=float, default=0.02, show_default=True,
              callback=_tolerance,
              help="Largest accepted difference of the (validation) accuracy (layer-parallel "
                   "one-shot or with data groups, averaging on several ranks: not the serial "
                   "steps).")
def compare(problem_file, overrides, tol, accuracy_tol):
    """Train PROBLEM_FILE in its mode and its serial reference, exactly as
    `run` does (windows, optimizer, batches), and compare: the weights
    (within TOL) where the mode computes the serial steps (sgd-time,
    layer-parallel exact, averaging on one rank), else the accuracy (within
    ACCURACY_TOL).  The reference of layer-parallel is mode serial; that of
    averaging is the same problem on one rank (no shards, no averages) for
    train.steps x ranks steps: the same epochs.  Exit 1 if they differ (a
    regression check)."""
    problem = _load(problem_file, overrides)
    if problem.mode == "serial":
        raise problem_error(problem, "mode", "compare checks a parallel mode (sgd-time, "
                                             "layer-parallel, averaging) against its serial "
                                             "reference")
    datasets = _data(problem, _node_ranks())
    quiet = Progress(problem.train.steps, enabled=False)
    weights, summary = train_problem(problem, datasets, COMM, Recorder(COMM), quiet)
    ranks = f"{COMM.size} rank{'s' if COMM.size > 1 else ''}"
    if problem.mode == "averaging":
        reference = _averaging_reference(problem)
        serial_weights, serial_summary = COMM.bcast(_on_root(
            lambda: train_problem(reference, datasets, MPI.COMM_SELF, Recorder(MPI.COMM_SELF),
                                  quiet)))
        ours = "averaged"
        head = (f"{problem.name}: {problem.train.steps} local steps on {ranks}, "
                f"{summary.get('averages', 0)} model averages (every {summary['every']}, "
                f"{summary['method']}); serial reference: one rank, "
                f"{reference.train.steps} steps (the same epochs)")
        same_steps = COMM.size == 1
    else:
        serial_weights, serial_summary = train_problem(with_mode(problem, "serial"), datasets,
                                                       COMM, Recorder(COMM), quiet)
        ours = "mgrit"
        groups = summary.get("data_groups", 1)
        if problem.mode == "sgd-time":
            iterations = summary["mgrit_iterations"]
            head = (f"{problem.name}: {problem.train.steps} steps, MGRIT {sum(iterations)} "
                    f"iterations over {len(iterations)} "
                    f"window{'s' if len(iterations) > 1 else ''} on {ranks}")
        else:
            head = (f"{problem.name}: {problem.train.steps} optimizer steps, layer-parallel "
                    f"({summary['solver_mode']}) on {ranks}"
                    + (f" in {groups} data groups ({summary['averaged']} averaged)"
                       if groups > 1 else ""))
        same_steps = problem.mode == "sgd-time" or (problem.layer_parallel.mode == "exact"
                                                    and groups == 1)
    scale = 1.0 + float(np.max(np.abs(serial_weights)))
    difference = float(np.max(np.abs(weights - serial_weights)))
    lines = [head]
    if same_steps:
        passed = difference <= tol * scale
        lines.append(f"  max |w_{ours} - w_serial| = {difference:.3e}  "
                     f"(limit {tol:g} x {scale:.3g})")
    else:
        key = "validation_accuracy" if "validation_accuracy" in summary["final"] else "accuracy"
        mine, theirs = summary["final"][key], serial_summary["final"][key]
        passed = abs(mine - theirs) <= accuracy_tol
        why = ("one-shot gradients are inexact" if problem.mode == "layer-parallel" and
               problem.layer_parallel.mode == "one-shot" else "other minibatches")
        lines += [f"  {key.replace('_', ' ')}: {ours} {mine:.4f}, serial {theirs:.4f}, "
                  f"|difference| {abs(mine - theirs):.4f}  (limit {accuracy_tol:g})",
                  f"  max |w_{ours} - w_serial| = {difference:.3e}  ({why}: not compared)"]
    lines.append(f"  {'PASS' if passed else 'FAIL'}")
    _echo("\n".join(lines))
    if not passed:
        sys.exit(1)


def _averaging_reference(problem):
    """The serial reference of an averaging problem: itself on one rank (no
    shards, no averages: serial training with the same optimizer, schedule
    and max-change) for train.steps x ranks steps, the minibatches that all
    ranks together train on."""
    data = problem.model_dump()
    data["train"]["steps"] = problem.train.steps * COMM.size
    return validate_problem(data, f"{problem.name} (the serial reference: train.steps x "
                                  f"{COMM.size} ranks)")


# ------------------------------------------------------ info, plot

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
    """Draw the plots of a run: residual.png, loss.png, accuracy.png."""
    folder = RunDir(run_dir)

    def draw():
        if not folder.is_run():
            raise ProblemError(run_dir, "", "not a run folder (no problem.yaml)")
        if not folder.metrics():
            raise ProblemError(run_dir, "", "no metrics to plot (metrics.jsonl is missing "
                                            "or empty)")
        return _draw(folder)

    for path in _on_root(draw) or []:
        _echo(str(path))


# ------------------------------------------------------------- main

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
    except click.exceptions.Abort:  # Ctrl-C (or an EOFError that click took for one)
        _echo("aborted", err=True)
        abort_at_exit(COMM)
        sys.exit(1)
    except ProblemError as e:
        _echo(f"mgrit-train: error: {e}", err=True)
        sys.exit(2)
    except RunFinished as e:
        _echo(f"mgrit-train: {e}")
        sys.exit(0)
    except RunFailed as e:
        _echo(f"mgrit-train: error: {e}", err=True)
        sys.exit(1)
    except TrainingDiverged as e:
        _echo(f"mgrit-train: {e}", err=True)
        sys.exit(1)
    except Exception:
        # an exception on any rank: its traceback, then the job ends (MPI_Abort
        # at exit, so the other ranks do not wait forever)
        traceback.print_exc()
        sys.stderr.flush()
        abort_at_exit(COMM)
        sys.exit(1)




if __name__ == "__main__":
    main()
