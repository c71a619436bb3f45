"""The problem schema: YAML quirks, error locations, overrides, round trip."""
import pytest

from pyxbraid.config import ProblemError, dump_problem, load_problem

BASE = """\
name: t
data:
  kind: xor
network:
  sizes: [3, 4, 1]
train:
  steps: 64
  learning_rate: 0.5
"""


def write(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_scientific_numbers(tmp_path):
    p = load_problem(write(tmp_path, BASE + "mgrit:\n  tol: 1e-3\n  max_iter: 1e2\n"))
    assert p.mgrit.tol == 1e-3 and isinstance(p.mgrit.tol, float)
    assert p.mgrit.max_iter == 100 and isinstance(p.mgrit.max_iter, int)
    with pytest.raises(ProblemError, match=r":7: train.steps: must be an integer, got 25.0"):
        load_problem(write(tmp_path, BASE.replace("steps: 64", "steps: 2.5e1")))


def test_defaults_and_round_trip(tmp_path):
    p = load_problem(write(tmp_path, BASE))
    assert (p.mode, p.mgrit.cycle, p.mgrit.cfactor, p.output.dir) == ("sgd-time", "V", 2, "runs")
    again = load_problem(write(tmp_path, dump_problem(p)))
    assert again == p


@pytest.mark.parametrize("text, message", [
    ("name: a\nname: b\n", r"p.yaml:2: name: duplicate key"),
    ("- 1\n- 2\n", r"p.yaml:1: expected a mapping of sections"),
    (BASE + "mgrit:\n  tol: .nan\n", r"p.yaml:10: mgrit.tol: must be finite"),
    (BASE + "mgrit:\n  cfactor_per_level: {0: 4, 1: 1}\n",
     r"p.yaml:10: mgrit.cfactor_per_level.1: must be >= 2, got 1"),
    (BASE + "mgrit:\n  lr_max: 0.1\n", r"mgrit.lr_max: must be >= train.learning_rate"),
    (BASE.replace("train:", "train:\n  schedule: minibatch"), r"train.batch_size: is required"),
    (BASE.replace("name: t", "name: a/b"), r"p.yaml:1: name: must be letters"),
    (BASE + "extra: 1\n", r"p.yaml:9: extra: unknown key"),
])
def test_errors_name_line_and_field(tmp_path, text, message):
    with pytest.raises(ProblemError, match=message):
        load_problem(write(tmp_path, text))


def test_overrides(tmp_path):
    path = write(tmp_path, BASE)
    p = load_problem(path, ["mgrit.cycle=F", "train.steps=1e3", "mgrit.lr_max=8"])
    assert (p.mgrit.cycle, p.train.steps, p.mgrit.lr_max) == ("F", 1000, 8.0)
    assert p.mgrit.core_options()["fmg"] is True
    with pytest.raises(ProblemError, match=r"^--set mgrit.cycle=W: mgrit.cycle: must be one of"):
        load_problem(path, ["mgrit.cycle=W"])
    with pytest.raises(ProblemError, match=r"^--set nonsense: expected key.path=value"):
        load_problem(path, ["nonsense"])
    with pytest.raises(ProblemError, match=r"cannot read the file"):
        load_problem(tmp_path / "missing.yaml")
