"""A run folder: the resolved problem, metrics.jsonl, summary.json,
weights.npz, the last good checkpoint and the plots.  Rank 0 writes."""
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np

PROBLEM, METRICS, SUMMARY = "problem.yaml", "metrics.jsonl", "summary.json"
WEIGHTS, CHECKPOINT = "weights.npz", "checkpoint.npz"


def new_run_dir(base, force=False):
    """`base`, or base-2, base-3, ... when it exists; with force, `base`
    emptied.  Never overwrites a run silently."""
    base = Path(base)
    if force and base.exists():
        shutil.rmtree(base)
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    candidate.mkdir(parents=True)
    return candidate


class RunDir:
    """Writing and reading the files of one run folder."""

    def __init__(self, path):
        self.path = Path(path)

    def write_problem(self, text):
        (self.path / PROBLEM).write_text(text)

    def append_metrics(self, records):
        """One JSON line per record, flushed at once: a crash loses nothing written.
        NaN and Inf (not JSON) are written as null."""
        with open(self.path / METRICS, "a") as f:
            for record in records:
                f.write(json.dumps(_json_safe(record), allow_nan=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def metrics(self):
        path = self.path / METRICS
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def truncate_metrics(self, nlines):
        """Keep the first nlines records (those of the last checkpoint)."""
        kept = self.metrics()[:nlines]
        (self.path / METRICS).write_text("".join(json.dumps(r) + "\n" for r in kept))

    def write_summary(self, summary):
        _atomic_write_text(self.path / SUMMARY,
                           json.dumps(_json_safe(summary), indent=1, allow_nan=False) + "\n")

    def summary(self):
        return json.loads((self.path / SUMMARY).read_text())

    def save_weights(self, weights, metadata):
        _atomic_savez(self.path / WEIGHTS, weights=weights,
                      metadata=np.array(json.dumps(metadata)))

    def save_checkpoint(self, weights, step, elapsed, **extra):
        """The state after `step` steps: what --resume continues from; `extra`
        arrays (an optimizer's memory) are kept under their names."""
        _atomic_savez(self.path / CHECKPOINT, weights=weights, step=np.array(step),
                      elapsed=np.array(elapsed), metrics_lines=np.array(len(self.metrics())),
                      **{"extra_" + k: v for k, v in extra.items()})

    def checkpoint(self):
        """(weights, step, elapsed, metrics_lines, extra) of the last checkpoint, or None."""
        path = self.path / CHECKPOINT
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as f:
            extra = {k[len("extra_"):]: f[k].copy() for k in f.files if k.startswith("extra_")}
            return (f["weights"].copy(), int(f["step"]), float(f["elapsed"]),
                    int(f["metrics_lines"]), extra)

    def save_rank_states(self, rank, nranks, states):
        """One rank's arrays (warm starts of one-shot MGRIT), for a resume on as many ranks."""
        _atomic_savez(self.path / f"warm-{rank}.npz", nranks=np.array(nranks), **states)

    def rank_states(self, rank, nranks):
        path = self.path / f"warm-{rank}.npz"
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as f:
            if int(f["nranks"]) != nranks:
                return None
            return {k: f[k].copy() for k in f.files if k != "nranks"}


def _json_safe(value):
    """value with NaN and Inf replaced by None (JSON has no such numbers)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def load_weights(path):
    """(weights, metadata dict) of a weights.npz, without pickle."""
    with np.load(path, allow_pickle=False) as f:
        return f["weights"].copy(), json.loads(str(f["metadata"]))


def _atomic_savez(path, **arrays):
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _atomic_write_text(path, text):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def timestamp():
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
