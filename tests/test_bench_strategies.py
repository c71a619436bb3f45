"""bench/strategies.py --quick on 1 and 2 ranks: the tables hold a row for
every strategy on every rank count it applies to, with finite figures; the
strategies that must train as serial training does (averaging on 1 rank,
MGRIT over the SGD steps on any rank count, data x layer 1 x 1 as
layer-parallel on 1 rank) reach the same accuracies at the same
checkpoints.  No timing is asserted: speed is for the benchmark."""
import json
import math
import subprocess
import sys

import pytest

from conftest import ROOT, load_module

BENCH = ROOT / "bench" / "strategies.py"
strategies = load_module(BENCH)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("strategies")
    done = subprocess.run([sys.executable, str(BENCH), "--quick", "--ranks", "1", "2",
                           "--json", str(out / "s.json"), "--markdown", str(out / "s.md")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads((out / "s.json").read_text()), (out / "s.md").read_text()


def section(text, table):
    """The lines of one table's section of the markdown."""
    resnet, mlp = text.split(strategies.TITLES["mlp"])
    return (resnet if table == "resnet" else mlp).splitlines()


def finite(value):
    return isinstance(value, float) and math.isfinite(value)


def test_every_strategy_has_a_row_of_finite_figures(quick):
    results, text = quick
    expected = {(table, strategy, ranks) for table, strategy in strategies.STRATEGIES
                for ranks in (1, 2) if strategies.applies(strategy, ranks)}
    rows = {(r["table"], r["strategy"], r["ranks"]): r for r in results["measured"]}
    assert set(rows) == expected
    assert ("resnet", "serial", 2) not in rows
    for key, r in rows.items():
        for name in ("epoch_seconds", "step_seconds", "epoch_cpu_seconds", "versus_serial",
                     "cpu_versus_serial"):
            assert finite(r[name]) and r[name] > 0, (key, name, r[name])
        assert 0.0 <= r["accuracy"] <= 1.0, key
        assert r["target_seconds"] is None or finite(r["target_seconds"]), key
        line = f"| {r['strategy']} | {r['ranks']} | {r['setting']} |"
        assert sum(row.startswith(line) for row in section(text, key[0])) == 1, line
    for table in ("resnet", "mlp"):   # the target is reached by the run that sets it
        assert finite(rows[table, "serial", 1]["target_seconds"])


def test_every_model_has_finite_speedups_on_16_and_64_ranks(quick):
    results, text = quick
    assert {16, 64} <= set(strategies.MODEL_RANKS)
    models = {(m["table"], m["strategy"], m["model"]): m for m in results["models"]}
    expected = {(table, strategy, kind) for table, strategy in strategies.STRATEGIES
                if strategy != "serial" for kind in ("count", "time")}
    assert set(models) == expected
    for key, m in models.items():
        for ranks in strategies.MODEL_RANKS:
            assert finite(m[str(ranks)]) and m[str(ranks)] > 0, (key, ranks)
        assert sum(row.startswith(f"| {key[1]} | {key[2]} | ")
                   for row in section(text, key[0])) == 1, key
    for table in ("resnet", "mlp"):
        averaging = models[table, "averaging", "count"]
        assert [averaging[str(p)] for p in strategies.MODEL_RANKS] == [
            float(p) for p in strategies.MODEL_RANKS]
        assert models[table, "averaging", "time"]["64"] < 64.0   # the averages cost time
    for p in strategies.MODEL_RANKS:   # the best split is at least as good as either extreme
        split = models["resnet", "data x layer", "time"]
        assert split[str(p)] >= models["resnet", "layer-parallel one-shot", "time"][str(p)]


def accuracies(results, table, strategy, ranks):
    run, = [r for r in results["runs"] if (r["table"], r["strategy"], r["ranks"]) ==
            (table, strategy, ranks)]
    return [(c["epoch"], c["accuracy"]) for c in run["checkpoints"]]


def test_strategies_that_train_as_serial_training_reach_its_accuracies(quick):
    results, _ = quick
    for table in ("resnet", "mlp"):
        serial = accuracies(results, table, "serial", 1)
        assert len(serial) == 2 * 2   # 2 epochs, 2 checkpoints an epoch
        assert accuracies(results, table, "averaging", 1) == serial
    mlp = accuracies(results, "mlp", "serial", 1)
    for ranks in (1, 2):   # MGRIT converges to serial SGD's weights (tol 1e-8)
        assert accuracies(results, "mlp", "MGRIT over SGD steps", ranks) == mlp
    assert (accuracies(results, "resnet", "data x layer", 1)
            == accuracies(results, "resnet", "layer-parallel one-shot", 1))


def test_the_models_count_what_the_library_counts():
    from pyxbraid.train import critical_path
    from pyxbraid.train.speedup import layer_parallel_speedup

    pair = {10: 1e-5, 20: 2e-5}
    serial = dict(cpu_seconds=1.0, steps=100, n_params=10)
    one_rank = dict(cpu_seconds=3.0, steps=100, forward_iterations=2.0, adjoint_iterations=1.0,
                    layers=32, max_levels=2, cfactor=4, state_size=20, n_params=10)
    model = strategies.LayerParallelModel(serial, one_rank, pair)
    assert model.count(16) == layer_parallel_speedup(32, 2, 2, 1, cfactor=4, nranks=16)
    # on 1 rank the time model is the measured run itself
    assert model.time(1) == pytest.approx(serial["cpu_seconds"] / one_rank["cpu_seconds"],
                                          rel=1e-12)
    assert model.messages(1) == 0 and model.messages(16) > model.messages(2) > 0
    averaging = strategies.AveragingModel(serial, dict(every=4), pair)
    # 100 / 16 steps a rank, 2 averages of 4 exchanges of 10 us
    assert averaging.time(16) == pytest.approx(1.0 / (1.0 / 16 + 2 * 4 * 1e-5), rel=1e-12)
    mgrit = strategies.SGDTimeModel(serial, dict(
        cpu_seconds=5.0, steps=100, n_params=10, cfactor=4, nrelax=1, skip=True,
        windows=[dict(steps=50, niter=3, nlevels=2)] * 2), pair)
    assert mgrit.time(1) == pytest.approx(1.0 / 5.0, rel=1e-12)
    assert mgrit.count(16) == 100 / (2 * critical_path(50, 2, 3, cfactor=4, nranks=16))
    assert mgrit.count(1) < mgrit.count(16)
