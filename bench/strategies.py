"""Which parallel strategy to pick: the same network and data trained by
every strategy that applies, on 1 and 2 ranks, for the same number of
epochs, and each strategy's modelled speed-up on 16 and 64 ranks from its
measured compute and communication (docs/strategies.md states the models).

(a) a ResNet on peaks: serial, data-parallel averaging (serial backprop on
    each rank's shard, the models averaged every `every` steps),
    layer-parallel one-shot, data x layer (data groups x layer ranks,
    gradients averaged over the groups);
(b) an MLP on digits: serial SGD, data-parallel averaging, MGRIT over the
    SGD steps (window by window).

Every run records the slowest rank's training time (wall and CPU) between
accuracy checkpoints: at a checkpoint the clocks stop, the validation
accuracy is taken, and after a barrier they start again, so evaluation is
never timed.  Time to target: the training time at the first checkpoint
whose validation accuracy reaches TARGET_FRACTION of the serial run's final
accuracy.

    python bench/strategies.py [--quick] [--ranks 1 2] [--repeat N] [--json PATH]
                               [--markdown PATH]

starts one `mpirun -n P` of this script per rank count (one BLAS thread per
rank), and one on 2 ranks that times a pairwise exchange of each vector the
models send (one round of the butterfly average).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL_RANKS = (2, 16, 64)   # 2: the models checked against the measured 2-rank runs
TARGET_FRACTION = 0.95
EXCHANGE_REPEATS, EXCHANGE_BLOCKS = 10, 300

# the two problems, full and --quick; `checkpoints` per epoch
SETTINGS = {
    "full": dict(
        resnet=dict(n_train=5000, n_val=500, width=8, layers=32, batch=50, epochs=10,
                    learning_rate=0.01, checkpoints=4, every=4, max_levels=2, cfactor=4,
                    gamma=1e-4),
        mlp=dict(sizes=[64, 32, 10], n_val=297, batch=16, epochs=10, learning_rate=1.0,
                 checkpoints=2, every=4, max_levels=2, cfactor=8, lr_growth=2.0, tol=1e-8)),
    "quick": dict(
        resnet=dict(n_train=400, n_val=100, width=4, layers=8, batch=20, epochs=2,
                    learning_rate=0.05, checkpoints=2, every=2, max_levels=2, cfactor=2,
                    gamma=1e-4),
        mlp=dict(sizes=[64, 16, 10], n_val=297, batch=16, epochs=2, learning_rate=1.0,
                 checkpoints=2, every=4, max_levels=2, cfactor=8, lr_growth=2.0, tol=1e-8)),
}

# (table, strategy) in the order of the tables, and the rank counts each runs on
STRATEGIES = [
    ("resnet", "serial"), ("resnet", "averaging"), ("resnet", "layer-parallel one-shot"),
    ("resnet", "data x layer"),
    ("mlp", "serial"), ("mlp", "averaging"), ("mlp", "MGRIT over SGD steps"),
]


def applies(strategy, ranks):
    return ranks == 1 if strategy == "serial" else True


# ------------------------------------------------------------ under mpirun

class Stopwatch:
    """Training time only: the slowest rank's wall and CPU seconds of every
    segment between two checkpoints, summed.  start() waits for every rank
    (a barrier), so no rank's segment includes another's evaluation."""

    def __init__(self, comm):
        self.comm, self.wall, self.cpu = comm, 0.0, 0.0
        self._started = None

    def start(self):
        from mpi4py import MPI
        self.comm.Barrier()
        self._started = (MPI.Wtime(), time.process_time())

    def stop(self):
        import numpy as np
        from mpi4py import MPI
        segment = np.array([MPI.Wtime() - self._started[0],
                            time.process_time() - self._started[1]])
        self.comm.Allreduce(MPI.IN_PLACE, segment, op=MPI.MAX)
        self.wall += segment[0]
        self.cpu += segment[1]


class Recorder:
    """Accuracy checkpoints at given step counts: the clocks stop, the
    model (a callable giving the parameters every rank agrees on) is
    evaluated on the validation data, and the clocks start again."""

    def __init__(self, comm, steps_per_epoch, checkpoint_steps, accuracy):
        self.clock = Stopwatch(comm)
        self.steps_per_epoch, self.accuracy = steps_per_epoch, accuracy
        self.checkpoint_steps = set(checkpoint_steps)
        self.checkpoints = []

    def step(self, step, model):
        if step in self.checkpoint_steps:
            self.clock.stop()
            self.checkpoints.append(dict(epoch=step / self.steps_per_epoch,
                                         seconds=self.clock.wall, cpu_seconds=self.clock.cpu,
                                         accuracy=float(self.accuracy(model()))))
            self.clock.start()


def checkpoint_steps(steps_per_epoch, epochs, per_epoch):
    """The step counts of `per_epoch` checkpoints an epoch (the last one at
    the end of the run)."""
    return sorted({round(j * steps_per_epoch / per_epoch) for j in
                   range(1, epochs * per_epoch + 1)})


def common_steps(comm, steps):
    """The fewest steps an epoch of any rank's shard has: every rank takes
    as many (averaging needs it), none passes its shard more than once."""
    from mpi4py import MPI
    return comm.allreduce(steps, op=MPI.MIN)


def averaged_copy(comm, w):
    """The mean of every rank's w (a copy: training is not changed)."""
    import numpy as np
    from mpi4py import MPI
    mean = np.empty_like(w)
    comm.Allreduce(w, mean, op=MPI.SUM)
    return mean / comm.size


def resnet_run(comm, strategy, s):
    """Train the ResNet on peaks by `strategy` on the ranks of comm."""
    import numpy as np

    from pyxbraid.data import peaks
    from pyxbraid.nn import ResNet
    from pyxbraid.train.averaging import (AveragedGradient, LocalOptimizerStep, ModelAverager,
                                          shard, split_data_layer, train_averaged)
    from pyxbraid.train.layer_parallel import LayerParallel, Serial
    from pyxbraid.train.loop import train
    from pyxbraid.train.optim import Adam

    data, validation = peaks(s["n_train"], s["n_val"], seed=0)
    net = ResNet(2, s["width"], s["layers"], 5, T=1.0, activation="smooth_relu",
                 gamma_t=s["gamma"], gamma_d=s["gamma"])
    theta0 = net.init_params(np.random.default_rng(0))
    lp_options = dict(max_levels=s["max_levels"], cfactor=s["cfactor"])
    groups = comm.size if strategy in ("averaging", "data x layer") else 1
    group = comm.rank if groups > 1 else 0
    part = shard(data, groups, group, 0)
    steps_per_epoch = common_steps(comm, len(part) // s["batch"])   # loop.batches' count
    steps = s["epochs"] * steps_per_epoch
    recorder = Recorder(comm, steps_per_epoch,
                        checkpoint_steps(steps_per_epoch, s["epochs"], s["checkpoints"]),
                        lambda theta: net.accuracy(theta, validation.x, validation.y))
    result = dict(steps=steps, n_train=len(data), epochs=s["epochs"], batch=s["batch"],
                  n_params=net.n_params, layers=s["layers"],
                  state_size=s["batch"] * s["width"])
    iterations = dict(forward=0, adjoint=0, one_shot_steps=0)

    def on_step(step, theta, loss, objective):
        stats = getattr(objective, "gradient_stats", None)
        if stats is not None:
            iterations["forward"] += stats.forward_iterations
            iterations["adjoint"] += stats.adjoint_iterations
            iterations["one_shot_steps"] += objective.mode == "one-shot"
        recorder.step(step, lambda: theta)

    recorder.clock.start()
    if strategy == "averaging":
        averager = ModelAverager(comm, "butterfly" if comm.size & (comm.size - 1) == 0
                                 else "allreduce")
        step = LocalOptimizerStep(Serial(net), Adam(s["learning_rate"]), part, s["batch"], 0)
        train_averaged(step, theta0, steps, averager, s["every"],
                       on_step=lambda i, w, averaged: recorder.step(
                           i, lambda: averaged_copy(comm, w)))
        result.update(every=s["every"], averages=averager.averages)
    else:
        if strategy == "serial":
            objective = Serial(net)
        elif strategy == "layer-parallel one-shot":
            objective = LayerParallel(net, comm, mode="one-shot", **lp_options)
        else:
            layer_comm, data_comm = split_data_layer(comm, groups)
            objective = AveragedGradient(LayerParallel(net, layer_comm, mode="one-shot",
                                                       **lp_options), data_comm)
            result.update(data_groups=groups, layer_ranks=layer_comm.size)
        train(objective, Adam(s["learning_rate"]), theta0, part, steps, s["batch"], seed=0,
              on_step=on_step)
        if strategy != "serial":
            result.update(forward_iterations=iterations["forward"] / steps,
                          adjoint_iterations=iterations["adjoint"] / steps,
                          one_shot_steps=iterations["one_shot_steps"], **lp_options)
    recorder.clock.stop()
    return dict(result, seconds=recorder.clock.wall, cpu_seconds=recorder.clock.cpu,
                checkpoints=recorder.checkpoints)


def mlp_run(comm, strategy, s):
    """Train the MLP on digits by `strategy` on the ranks of comm."""
    import numpy as np

    from pyxbraid.data import digits
    from pyxbraid.nn import MLP
    from pyxbraid.train import DataSchedule, LearningRate, SGDStep, train_serial, train_sgd_time
    from pyxbraid.train.averaging import (LearningRateSchedule, LocalSGDStep, ModelAverager,
                                          shard, train_averaged)

    data, validation = digits(s["n_val"], seed=0)
    model = MLP(s["sizes"], activation="sigmoid", output_activation="identity",
                loss="softmax_cross_entropy")
    w0 = model.init_params(np.random.default_rng(0), scheme="xavier")
    part = shard(data, comm.size if strategy == "averaging" else 1, comm.rank, 0)
    schedule = DataSchedule(part, "minibatch", s["batch"], seed=0)
    steps_per_epoch = common_steps(comm, len(schedule))
    steps = s["epochs"] * steps_per_epoch
    marks = checkpoint_steps(steps_per_epoch, s["epochs"], s["checkpoints"])
    recorder = Recorder(comm, steps_per_epoch, marks,
                        lambda w: model.accuracy(w, validation.x, validation.y))
    result = dict(steps=steps, n_train=len(data), epochs=s["epochs"], batch=s["batch"],
                  n_params=model.n_params)

    recorder.clock.start()
    if strategy == "serial":
        step = SGDStep(model, schedule, LearningRate(s["learning_rate"]))
        train_serial(step, w0, steps, on_step=lambda i, w: recorder.step(i, lambda: w))
    elif strategy == "averaging":
        averager = ModelAverager(comm, "butterfly" if comm.size & (comm.size - 1) == 0
                                 else "allreduce")
        rate = LearningRateSchedule(s["learning_rate"], steps=steps, ranks=comm.size,
                                    scale_with_ranks=True)
        train_averaged(LocalSGDStep(model, schedule, rate), w0, steps, averager, s["every"],
                       on_step=lambda i, w, averaged: recorder.step(
                           i, lambda: averaged_copy(comm, w)))
        result.update(every=s["every"], averages=averager.averages)
    else:
        step = SGDStep(model, schedule, LearningRate(s["learning_rate"], growth=s["lr_growth"]))
        options = dict(max_levels=s["max_levels"], cfactor=s["cfactor"], nrelax=1, skip=True,
                       abs_tol=s["tol"], max_iter=100)
        w, done, windows = w0, 0, []
        for mark in marks:   # a window from checkpoint to checkpoint
            solve = train_sgd_time(step, w, mark - done, comm, initial_guess="w0",
                                   offset=done, **options)
            w, done = solve.weights, mark
            windows.append(dict(steps=solve.nsteps, niter=solve.niter, nlevels=solve.nlevels))
            recorder.step(mark, lambda: w)
        result.update(windows=windows, **options)
    recorder.clock.stop()
    return dict(result, seconds=recorder.clock.wall, cpu_seconds=recorder.clock.cpu,
                checkpoints=recorder.checkpoints)


def exchange_seconds(comm, sizes, repeats=EXCHANGE_REPEATS, blocks=EXCHANGE_BLOCKS):
    """On 2 ranks: the seconds of one pairwise exchange of `size` doubles
    (one butterfly round: send, receive, add, halve), for each size: the
    fastest of `blocks` short blocks of `repeats` exchanges, the least
    disturbed by other work on the machine (a block of about a millisecond
    often runs whole while both ranks have a core)."""
    import numpy as np
    from mpi4py import MPI

    from pyxbraid.train.averaging import ModelAverager

    averager = ModelAverager(comm, "butterfly")
    seconds = {}
    for size in sizes:
        vector = np.ones(size)
        for _ in range(100):   # warm-up
            averager(vector)
        best = math.inf
        for _ in range(blocks):
            comm.Barrier()
            start = MPI.Wtime()
            for _ in range(repeats):
                averager(vector)
            best = min(best, comm.allreduce(MPI.Wtime() - start, op=MPI.MAX) / repeats)
        seconds[size] = best
    return seconds


def worker(mode, out, sizes, repeat):
    """Under mpirun: the exchange timings (--sizes), or every strategy that
    applies on this many ranks, each run `repeat` times (the same training
    every time: the fastest run's figures are kept)."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    if sizes:
        seconds = exchange_seconds(comm, sizes)
        if comm.rank == 0:
            Path(out).write_text(json.dumps({str(k): v for k, v in seconds.items()}))
        return
    settings = SETTINGS[mode]
    runs = []
    for table, strategy in STRATEGIES:
        if not applies(strategy, comm.size):
            continue
        train = resnet_run if table == "resnet" else mlp_run
        run = min((train(comm, strategy, settings[table]) for _ in range(repeat)),
                  key=lambda r: r["seconds"])
        runs.append(dict(table=table, strategy=strategy, ranks=comm.size, repeat=repeat, **run))
        if comm.rank == 0:
            print(f"  {table}, {strategy}, {comm.size} rank(s): {run['seconds']:.2f} s "
                  f"(best of {repeat})", file=sys.stderr, flush=True)
    if comm.rank == 0:
        Path(out).write_text(json.dumps(runs))


# --------------------------------------------------------------- the models
#
# Each strategy has two models of its speed-up over serial training on P
# ranks: `count`, in units of work (steps or layer evaluations, communication
# free), and `time`, the same work priced at this machine's measured
# seconds, plus its messages priced at the measured pairwise exchange.
# Compute is priced by the 1-rank runs' CPU seconds: on a machine whose
# cores other work shares, a process's wall time counts the time it waited
# for a core, and that differs from run to run.
COMPUTE = "cpu_seconds"


def log2(ranks):
    return math.log2(ranks) if ranks > 1 else 0.0


def critical_messages(ntime, nlevels, niter, cfactor, nrelax=1, skip=True, nranks=1):
    """Messages on the critical path of an MGRIT solve on `nranks` ranks,
    counted over the same cycle as pyxbraid.train.speedup.critical_path:
    one neighbour message per sweep of a level (each relaxation, the
    restriction, the interpolation, the final F-sweep), and the coarsest
    level's sequential solve a chain through the ranks holding its points."""
    from pyxbraid.train.speedup import hierarchy, replay_cycle

    if nranks <= 1:
        return 0
    points, _ = hierarchy(ntime, nlevels, cfactor)
    coarsest = nlevels - 1
    chain = min(nranks, points[coarsest] + 1) - 1
    if nlevels <= 1:
        return chain
    return 1 + replay_cycle(nlevels, niter, relax=lambda level: nrelax,
                            restrict=lambda level: 1,
                            interpolate=lambda level: chain if level == coarsest else 1,
                            skip=skip)


def us(seconds):
    return f"{seconds * 1e6:.0f} us"


class AveragingModel:
    """count: P (each rank's compute is T1 / P).  time: T1 / (T1 / P +
    n_avg(P) * log2(P) * t_pair), T1 the serial run's compute (COMPUTE),
    n_avg(P) = ceil(steps / P / every) butterfly averages of log2 P
    pairwise exchanges of the parameters."""

    def __init__(self, serial, one_rank, pair):
        self.serial, self.every = serial, one_rank["every"]
        self.t_pair = pair[serial["n_params"]]

    def count(self, ranks):
        return float(ranks)

    def time(self, ranks):
        t1 = self.serial[COMPUTE]
        averages = math.ceil(self.serial["steps"] / ranks / self.every)
        return t1 / (t1 / ranks + averages * log2(ranks) * self.t_pair)

    def inputs(self):
        s = self.serial
        return (f"T1 = {s[COMPUTE]:.2f} CPU s ({s['steps']} steps of the serial run), every "
                f"{self.every}, t_pair({s['n_params']} doubles) = {us(self.t_pair)}")


class LayerParallelModel:
    """count: pyxbraid.train.speedup.layer_parallel_speedup with the measured
    iterations per step, 3N / E(P), E(P) the layer evaluations on the
    critical path of a step (forward and adjoint solves, layer gradients).
    time: T_serial / (steps * t_step(P)), t_step(P) = t_eval * E(P) +
    m(P) * t_pair(state) + log2(P) * t_pair(parameters): t_eval what one
    evaluation costs in the solver on 1 rank (its compute / (steps * E(1))),
    m(P) the messages of the forward and adjoint critical paths
    (critical_messages), and the gradient's allreduce."""

    def __init__(self, serial, one_rank, pair):
        from pyxbraid.train.speedup import layer_parallel_speedup

        self.serial, self.run = serial, one_rank
        self.forward = max(1, round(one_rank["forward_iterations"]))
        self.adjoint = max(1, round(one_rank["adjoint_iterations"]))
        self.n, self.nlevels, self.cfactor = (one_rank["layers"], one_rank["max_levels"],
                                              one_rank["cfactor"])
        self.t_state, self.t_params = pair[one_rank["state_size"]], pair[one_rank["n_params"]]
        self.count = lambda ranks: layer_parallel_speedup(
            self.n, self.nlevels, self.forward, self.adjoint, cfactor=self.cfactor,
            nranks=ranks)
        self.t_eval = one_rank[COMPUTE] / (one_rank["steps"] * self.evaluations(1))

    def evaluations(self, ranks):
        return 3 * self.n / self.count(ranks)

    def messages(self, ranks):
        return sum(critical_messages(self.n, self.nlevels, iterations, self.cfactor,
                                     skip=False, nranks=ranks)
                   for iterations in (self.forward, self.adjoint))

    def step_seconds(self, ranks):
        return (self.t_eval * self.evaluations(ranks) + self.messages(ranks) * self.t_state
                + log2(ranks) * self.t_params)

    def time(self, ranks):
        return self.serial[COMPUTE] / (self.serial["steps"] * self.step_seconds(ranks))

    def inputs(self):
        r = self.run
        paths = ", ".join(f"E({p}) = {self.evaluations(p):.0f}, m({p}) = {self.messages(p)}"
                          for p in MODEL_RANKS)
        return (f"fwd/adj iterations {self.forward}/{self.adjoint}, t_eval = "
                f"{us(self.t_eval)}, E(1) = {self.evaluations(1):.0f}, {paths}; t_pair("
                f"{r['state_size']}) = {us(self.t_state)}, t_pair({r['n_params']}) = "
                f"{us(self.t_params)}")


class DataLayerModel:
    """The best split of P = D data groups x L layer ranks (D a power of
    two): each group takes steps / D steps (its shard of 1/D of the data in
    minibatches of the same size), a step costing serial backprop for L = 1
    and a layer-parallel step on L ranks (LayerParallelModel) for L > 1,
    plus the gradient's allreduce over the groups (log2 D exchanges of the
    parameters).  count: D times the layer-parallel count (1 for L = 1)."""

    def __init__(self, serial, one_rank, pair):
        self.serial, self.layer = serial, LayerParallelModel(serial, one_rank, pair)
        self.t_params = pair[serial["n_params"]]

    def splits(self, ranks):
        groups = 1
        while groups <= ranks:
            yield groups, ranks // groups
            groups *= 2

    def best(self, ranks, kind):
        """(speed-up, D, L) of the fastest split by model `kind`."""
        t_serial = self.serial[COMPUTE] / self.serial["steps"]
        found = []
        for groups, layer_ranks in self.splits(ranks):
            if kind == "count":
                speedup = groups * (1.0 if layer_ranks == 1 else self.layer.count(layer_ranks))
            else:
                step = t_serial if layer_ranks == 1 else self.layer.step_seconds(layer_ranks)
                speedup = groups * t_serial / (step + log2(groups) * self.t_params)
            found.append((speedup, groups, layer_ranks))
        return max(found)

    def count(self, ranks):
        return self.best(ranks, "count")[0]

    def time(self, ranks):
        return self.best(ranks, "time")[0]

    def split(self, ranks, kind):
        _, groups, layer_ranks = self.best(ranks, kind)
        return f"{groups} x {layer_ranks}"

    def inputs(self):
        s = self.serial
        return (f"serial step {us(s[COMPUTE] / s['steps'])}, the layer-parallel inputs "
                f"above, t_pair({s['n_params']}) = {us(self.t_params)}")


class SGDTimeModel:
    """count: the windows' steps over their critical paths on P ranks
    (pyxbraid.train.critical_path with the measured iterations).  time:
    T_serial / (t_step * C(P) + m(P) * t_pair(weights)), t_step what one
    step costs in the solver on 1 rank (its compute over C(1), all its work),
    m(P) the windows' critical_messages."""

    def __init__(self, serial, one_rank, pair):
        self.serial, self.run = serial, one_rank
        self.t_pair = pair[one_rank["n_params"]]
        self.t_step = one_rank[COMPUTE] / self.path(1)

    def path(self, ranks):
        from pyxbraid.train import critical_path
        r = self.run
        return sum(critical_path(w["steps"], w["nlevels"], w["niter"], cfactor=r["cfactor"],
                                 nrelax=r["nrelax"], skip=r["skip"], nranks=ranks)
                   for w in r["windows"])

    def messages(self, ranks):
        r = self.run
        return sum(critical_messages(w["steps"], w["nlevels"], w["niter"], r["cfactor"],
                                     r["nrelax"], r["skip"], ranks) for w in r["windows"])

    def count(self, ranks):
        return self.run["steps"] / self.path(ranks)

    def time(self, ranks):
        return self.serial[COMPUTE] / (self.t_step * self.path(ranks)
                                         + self.messages(ranks) * self.t_pair)

    def inputs(self):
        paths = ", ".join(f"C({p}) = {self.path(p)}, m({p}) = {self.messages(p)}"
                          for p in MODEL_RANKS)
        return (f"{self.run['steps']} steps in {len(self.run['windows'])} windows, t_step = "
                f"{us(self.t_step)} (serial {us(self.serial[COMPUTE] / self.serial['steps'])}"
                f"), C(1) = {self.path(1)}, {paths}; t_pair({self.run['n_params']}) = "
                f"{us(self.t_pair)}")


MODELS = {"averaging": AveragingModel, "layer-parallel one-shot": LayerParallelModel,
          "data x layer": DataLayerModel, "MGRIT over SGD steps": SGDTimeModel}


# ------------------------------------------------------------------ driver

def run_job(ranks, args, out):
    """This script as a worker under `mpirun -n ranks`; what it wrote to out."""
    Path(out).unlink(missing_ok=True)   # never the previous job's
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    command = [str(Path(sys.executable).parent / "mpirun"), "-n", str(ranks), sys.executable,
               "-m", "mpi4py", __file__, "--worker", str(out)] + args
    done = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"bench/strategies.py: the {ranks}-rank job failed (exit {done.returncode})")
    return json.loads(Path(out).read_text())


def time_to_target(run, target):
    """(seconds, epochs) at the first checkpoint reaching `target`, or None."""
    for c in run["checkpoints"]:
        if c["accuracy"] >= target:
            return c["seconds"], c["epoch"]
    return None


def setting_of(run):
    """The setting column of a run: what its strategy was given, and did."""
    if "every" in run:
        return f"average every {run['every']} steps"
    if "windows" in run:
        iterations = [w["niter"] for w in run["windows"]]
        low, high = min(iterations), max(iterations)
        return (f"{len(iterations)} windows of {run['windows'][0]['steps']} steps, "
                f"{low if low == high else f'{low}-{high}'} iterations")
    if "forward_iterations" not in run:
        return "-"
    iterations = (f"fwd/adj iterations {run['forward_iterations']:.1f}/"
                  f"{run['adjoint_iterations']:.1f}")
    if run["one_shot_steps"] < run["steps"]:   # pyxbraid.train.loop's guard switched
        iterations += f", exact mode after {run['one_shot_steps']} steps"
    if "data_groups" in run:
        return f"{run['data_groups']} x {run['layer_ranks']}, {iterations}"
    return iterations


def tables(results):
    """(measured rows, model rows) of every table."""
    pair = results["pair"]
    measured, models = [], []
    for table in ("resnet", "mlp"):
        of = {(r["strategy"], r["ranks"]): r for r in results["runs"] if r["table"] == table}
        serial = of[("serial", 1)]
        target = TARGET_FRACTION * serial["checkpoints"][-1]["accuracy"]
        for (strategy, ranks), r in of.items():
            reached = time_to_target(r, target)
            measured.append(dict(
                table=table, strategy=strategy, ranks=ranks, setting=setting_of(r),
                epoch_seconds=r["seconds"] / r["epochs"], step_seconds=r["seconds"] / r["steps"],
                epoch_cpu_seconds=r["cpu_seconds"] / r["epochs"], epochs=r["epochs"],
                accuracy=r["checkpoints"][-1]["accuracy"], target=target,
                target_seconds=reached[0] if reached else None,
                target_epochs=reached[1] if reached else None,
                versus_serial=serial["seconds"] / r["seconds"],
                cpu_versus_serial=serial["cpu_seconds"] / r["cpu_seconds"]))
        for _, strategy in (s for s in STRATEGIES if s[0] == table and s[1] in MODELS):
            source = of[("layer-parallel one-shot" if strategy == "data x layer" else strategy,
                         1)]
            model = MODELS[strategy](serial, source, pair)
            for kind in ("count", "time"):
                row = dict(table=table, strategy=strategy, model=kind, inputs=model.inputs())
                for ranks in MODEL_RANKS:
                    row[str(ranks)] = getattr(model, kind)(ranks)
                    if strategy == "data x layer":
                        row[f"split {ranks}"] = model.split(ranks, kind)
                models.append(row)
    return measured, models


TITLES = {"resnet": "(a) ResNet on peaks", "mlp": "(b) MLP on digits"}


def describe(settings):
    r, m = settings["resnet"], settings["mlp"]
    return {
        "resnet": (f"peaks ({r['n_train']} training, {r['n_val']} validation points), ResNet "
                   f"width {r['width']}, {r['layers']} layers (smooth ReLU, T = 1, "
                   f"gamma {r['gamma']:g}), Adam {r['learning_rate']:g}, minibatches of "
                   f"{r['batch']} per rank (per data group), {r['epochs']} epochs; one-shot "
                   f"2/1 iterations, {r['max_levels']} levels, cfactor {r['cfactor']}; "
                   f"averaging: each rank's own Adam"),
        "mlp": (f"digits (1500 training, {m['n_val']} validation images), MLP "
                f"{'-'.join(map(str, m['sizes']))} (sigmoid, softmax cross-entropy), SGD "
                f"{m['learning_rate']:g} (averaging: times the ranks), minibatches of "
                f"{m['batch']} per rank, {m['epochs']} epochs; MGRIT: {m['max_levels']} levels, "
                f"cfactor {m['cfactor']}, FCF, coarse rate x{m['lr_growth']:g}, absolute tol "
                f"{m['tol']:g}, one window per checkpoint"),
    }


def markdown(results, measured, models):
    text = []
    notes = describe(results["settings"])
    for table in ("resnet", "mlp"):
        rows = [r for r in measured if r["table"] == table]
        text += [f"### {TITLES[table]}", "", notes[table] + ".", "",
                 f"Target accuracy {rows[0]['target']:.3f} ({TARGET_FRACTION:.0%} of the serial "
                 f"run's final validation accuracy); best of {results['repeat']} runs.", "",
                 "| strategy | ranks | setting | s / epoch | s / step | CPU s / epoch | "
                 f"val. accuracy after {rows[0]['epochs']} epochs | time to target (epochs) | "
                 "vs serial (wall) | vs serial (CPU) |",
                 "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            to_target = ("not reached" if r["target_seconds"] is None else
                         f"{r['target_seconds']:.2f} s ({r['target_epochs']:.2f})")
            text.append(f"| {r['strategy']} | {r['ranks']} | {r['setting']} | "
                        f"{r['epoch_seconds']:.3f} | {r['step_seconds'] * 1e3:.2f} ms | "
                        f"{r['epoch_cpu_seconds']:.3f} | {r['accuracy']:.3f} | {to_target} | "
                        f"{r['versus_serial']:.2f}x | {r['cpu_versus_serial']:.2f}x |")
        text += ["", "Modelled speed-up over serial training:", "",
                 "| strategy | model | " + " | ".join(
                     f"{p} ranks" + (" (cf. measured)" if p == 2 else "") for p in MODEL_RANKS)
                 + " |", "|---|---|" + "---:|" * len(MODEL_RANKS)]
        for m in (m for m in models if m["table"] == table):
            cells = [f"{m[str(p)]:.2f}x" + (f" ({m[f'split {p}']})" if f"split {p}" in m else "")
                     for p in MODEL_RANKS]
            text.append(f"| {m['strategy']} | {m['model']} | " + " | ".join(cells) + " |")
        text += ["", "Measured inputs:", ""]
        text += [f"- {m['strategy']}: {m['inputs']}" for m in models
                 if m["table"] == table and m["model"] == "time"]
        text.append("")
    text += [f"t_pair(n): one pairwise exchange of n doubles on 2 ranks (a butterfly round: "
             f"send, receive, add, halve), the fastest of {EXCHANGE_BLOCKS} blocks of "
             f"{EXCHANGE_REPEATS}."]
    return "\n".join(text) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small problem (a smoke test)")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, help="runs of each strategy, the fastest kept "
                                                   "(default 2, --quick 1)")
    parser.add_argument("--json", type=Path,
                        default=ROOT / "bench" / "results" / "strategies.json")
    parser.add_argument("--markdown", type=Path,
                        default=ROOT / "bench" / "results" / "strategies.md")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    repeat = args.repeat or (1 if args.quick else 2)
    if repeat < 1:
        parser.error("--repeat: must be at least 1")
    if args.worker:
        return worker(mode, args.worker, args.sizes, repeat)
    if 1 not in args.ranks or min(args.ranks) < 1:
        parser.error("--ranks: must include 1 (the serial runs and the models start from the "
                     "1-rank runs), and every count must be at least 1")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    scratch = args.json.with_suffix(".part.json")
    started = time.time()
    common = ["--repeat", str(repeat)] + (["--quick"] if args.quick else [])
    runs = []
    for ranks in args.ranks:
        runs += run_job(ranks, common, scratch)
    sizes = sorted({r["n_params"] for r in runs} | {r["state_size"] for r in runs
                                                     if "state_size" in r})
    pair = run_job(2, ["--sizes"] + [str(s) for s in sizes], scratch)
    scratch.unlink()
    results = dict(mode=mode, repeat=repeat, settings=SETTINGS[mode], runs=runs,
                   pair={int(k): v for k, v in pair.items()}, date=time.strftime("%Y-%m-%d"))
    results["measured"], results["models"] = tables(results)
    results["seconds"] = time.time() - started
    text = markdown(results, results["measured"], results["models"])
    args.json.write_text(json.dumps(results, indent=1))
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(text)
    print(text)
    print(f"({results['seconds']:.0f} s; {args.json}, {args.markdown})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
