"""A run folder: the resolved problem, metrics.jsonl, summary.json,
weights.npz, the last good checkpoint, the plots, and the lock that keeps a
second run out while one runs.  Rank 0 writes.

Reading a file that is not what a run writes (a truncated checkpoint, a line
of metrics that is not JSON) raises ProblemError naming the file; a write
that fails (a full disk, a read-only file system, the folder deleted) raises
RunFailed naming the file and the reason, and leaves no temporary file."""
import fcntl
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pyxbraid.cli.config import ProblemError

PROBLEM, METRICS, SUMMARY = "problem.yaml", "metrics.jsonl", "summary.json"
WEIGHTS, CHECKPOINT, LOCK = "weights.npz", "checkpoint.npz", "run.lock"
# weights kept in a file (network.out_of_core) are checkpointed beside the
# checkpoint, one file per step, which checkpoint.npz names
CHECKPOINT_WEIGHTS = "checkpoint-weights-{step}.npy"
# What a checkpoint.npz holds changes with this number (2: the history holds
# totals; 1, unnumbered: a list per window or step).  A run resumes only from
# a checkpoint of its own format.
CHECKPOINT_FORMAT = 2


class RunFailed(Exception):
    """The run cannot go on: a file of the run folder could not be written
    (exit status 1)."""


def _write_failed(path, error):
    reason = error.strerror or str(error)
    if not path.parent.exists():
        reason += " (the run folder is gone)"
    return RunFailed(f"cannot write {path}: {reason}")


def new_run_dir(base, force=False):
    """Create `base`, or base-2, base-3, ... when it exists; with force,
    replace `base` when it is a run folder (one with problem.yaml) that no
    run is using, and refuse anything else.  Never overwrites a run
    silently; never deletes what a run did not write."""
    base = Path(base)
    if force and (base.exists() or base.is_symlink()):
        if not base.is_dir() or base.is_symlink():
            raise ProblemError(f"--out {base}", "", "--force replaces a run folder; this is "
                               "not a folder")
        if not (base / PROBLEM).is_file():
            raise ProblemError(f"--out {base}", "", "--force replaces only a run folder (one "
                               "with problem.yaml); this folder is not one, nothing was deleted")
        RunLock(base).acquire().release()  # in use by a run: refused
        try:
            shutil.rmtree(base)
        except OSError as e:
            raise ProblemError(f"--out {base}", "", f"cannot replace the run folder: "
                               f"{e.strerror}") from None
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")
        except OSError as e:
            raise ProblemError(str(candidate), "", f"cannot create the run folder: "
                               f"{e.strerror}") from None


class RunLock:
    """An exclusive lock on a run folder (flock on run.lock, which holds the
    pid), held by rank 0 while it runs.  The kernel releases it when the
    process dies, so a lock file left by a killed run is simply taken over."""

    def __init__(self, folder):
        self.path = Path(folder) / LOCK
        self.fd = None

    def acquire(self):
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise ProblemError(str(self.path.parent), "", f"cannot lock the run folder: "
                                   f"{e.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise ProblemError(str(self.path.parent), "", f"in use by pid {pid} (another "
                                   f"mgrit-train run of this folder)") from None
            try:  # the file may have been removed by its last holder meanwhile
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self):
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass  # the folder is gone, or read-only: the lock dies with the fd
        os.close(self.fd)
        self.fd = None


@dataclass
class Checkpoint:
    """The state after `step` steps: what --resume continues from (a mode
    that needs more adds a field here, and to save_checkpoint/checkpoint).

    elapsed: the seconds the run has trained; metrics_lines: the records of
    metrics.jsonl written until then (those after it are dropped); problem:
    the resolved problem as JSON (a resume under an edited problem.yaml is
    refused); history: what the summary counts of the steps before (MGRIT
    iterations per window, totals), as JSON data; arrays: named arrays (an
    optimizer's memory, one-shot warm starts)."""
    weights: np.ndarray
    step: int
    elapsed: float
    metrics_lines: int
    problem: str
    history: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)


class RunDir:
    """Writing and reading the files of one run folder."""

    def __init__(self, path):
        self.path = Path(path)

    def is_run(self):
        return (self.path / PROBLEM).is_file()

    def write_problem(self, text):
        _atomic_write_bytes(self.path / PROBLEM, text.encode())

    # metrics

    def append_metrics(self, records):
        """One JSON line per record, flushed at once: a crash loses nothing written.
        NaN and Inf (not JSON) are written as null."""
        path = self.path / METRICS
        text = _json_lines(records)
        try:
            with open(path, "a") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise _write_failed(path, e) from None

    def metrics(self, limit=None):
        """The records (the first `limit` of them); ProblemError at a line
        that is not a record."""
        path = self.path / METRICS
        if not path.exists():
            return []
        try:
            text = path.read_bytes()
        except OSError as e:
            raise ProblemError(str(path), "", f"cannot read: {e.strerror}") from None
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if limit is not None and len(records) == limit:
                break
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, UnicodeDecodeError) as e:
                raise ProblemError(f"{path}:{number}", "", f"not a metrics record ({e})") \
                    from None
            if not isinstance(record, dict) or record.get("type") not in ("iteration", "step"):
                raise ProblemError(f"{path}:{number}", "", "not a metrics record")
            records.append(record)
        if limit is not None and len(records) < limit:
            raise ProblemError(str(path), "", f"holds {len(records)} records, the checkpoint "
                               f"counts {limit}")
        return records

    def truncate_metrics(self, records):
        """Keep `records` (those of the last checkpoint) and nothing else."""
        _atomic_write_bytes(self.path / METRICS, _json_lines(records).encode())

    # summary and weights

    def write_summary(self, summary):
        _atomic_write_bytes(self.path / SUMMARY, (json.dumps(
            _json_safe(summary), indent=1, allow_nan=False) + "\n").encode())

    def summary(self):
        """The summary, or None when there is none or it cannot be read."""
        try:
            summary = json.loads((self.path / SUMMARY).read_text())
        except (OSError, ValueError):
            return None
        return summary if isinstance(summary, dict) else None

    def save_weights(self, weights, metadata):
        _atomic_savez(self.path / WEIGHTS, weights=weights,
                      metadata=np.array(json.dumps(metadata)))

    # checkpoint

    def save_checkpoint(self, checkpoint):
        """checkpoint.npz; weights in a file (a memmap) go to their own .npy,
        streamed there without a copy in memory, written before the .npz that
        names it (the files of earlier checkpoints are removed after)."""
        arrays = {"array_" + k: v for k, v in checkpoint.arrays.items()}
        weights = {"weights": checkpoint.weights}
        if isinstance(checkpoint.weights, np.memmap):
            name = CHECKPOINT_WEIGHTS.format(step=checkpoint.step)
            _atomic(self.path / name, lambda f: np.save(f, checkpoint.weights))
            weights = {"weights_file": np.array(name)}
        _atomic_savez(self.path / CHECKPOINT, format=np.array(CHECKPOINT_FORMAT),
                      step=np.array(checkpoint.step), **weights,
                      elapsed=np.array(checkpoint.elapsed),
                      metrics_lines=np.array(checkpoint.metrics_lines),
                      problem=np.array(checkpoint.problem),
                      history=np.array(json.dumps(checkpoint.history)), **arrays)
        kept = weights.get("weights_file")
        for old in self.path.glob(CHECKPOINT_WEIGHTS.format(step="*")):
            if kept is None or old.name != str(kept):
                old.unlink(missing_ok=True)

    def checkpoint(self):
        """The Checkpoint, or None when there is none; ProblemError when the
        file is not a checkpoint of this version (truncated, empty, ...)."""
        path = self.path / CHECKPOINT
        if not path.exists():
            return None
        again = ("the run cannot be resumed from it (remove it to start the run again from "
                 "step 0)")
        try:
            with np.load(path, allow_pickle=False) as f:
                found = int(f["format"]) if "format" in f.files else 1
                if found == CHECKPOINT_FORMAT:
                    return Checkpoint(
                        weights=self._checkpoint_weights(f), step=int(f["step"]),
                        elapsed=float(f["elapsed"]), metrics_lines=int(f["metrics_lines"]),
                        problem=str(f["problem"]), history=json.loads(str(f["history"])),
                        arrays={k[len("array_"):]: f[k].copy() for k in f.files
                                if k.startswith("array_")})
        except Exception as e:  # noqa: BLE001 -- whatever a damaged file raises
            raise ProblemError(str(path), "", f"not a readable checkpoint ({type(e).__name__}: "
                               f"{e}); {again}") from None
        raise ProblemError(str(path), "", f"a checkpoint of another version of mgrit-train "
                           f"(format {found}, this one reads {CHECKPOINT_FORMAT}); {again}")


    def _checkpoint_weights(self, f):
        """The weights of an open checkpoint.npz: in it, or (weights in a
        file) its .npy, opened read-only as a memmap."""
        if "weights_file" not in f.files:
            return f["weights"].copy()
        name = Path(str(f["weights_file"])).name
        return np.load(self.path / name, mmap_mode="r", allow_pickle=False)


def _json_lines(records):
    """The lines of metrics.jsonl for `records`."""
    return "".join(json.dumps(_json_safe(r), allow_nan=False) + "\n" for r in records)


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


def _atomic(path, write):
    """write(tmp) then rename over path; on failure nothing is left behind
    and RunFailed names the file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise _write_failed(path, e) from None


def _atomic_savez(path, **arrays):
    _atomic(path, lambda f: np.savez(f, **arrays))


def _atomic_write_bytes(path, data):
    _atomic(path, lambda f: f.write(data))


def timestamp():
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
