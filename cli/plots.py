"""The plots of a run folder: residual history, loss and accuracy curves."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402


def draw(run_dir, metrics):
    """Write residual.png, loss.png and accuracy.png; returns their paths."""
    run_dir = Path(run_dir)
    written = []
    iterations = [m for m in metrics if m["type"] == "iteration" and (m["residual"] or 0) > 0]
    if iterations:
        fig, ax = plt.subplots(figsize=(6, 4))
        for window in sorted({m["window"] for m in iterations}):
            points = [m for m in iterations if m["window"] == window]
            ax.semilogy([m["iteration"] for m in points], [m["residual"] for m in points],
                        marker="o", label=f"window {window}" if window else None)
        ax.set_xlabel("MGRIT iteration")
        ax.set_ylabel("residual norm")
        ax.set_title("MGRIT residual history")
        if len({m["window"] for m in iterations}) > 1:
            ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        written.append(_save(fig, run_dir / "residual.png"))
    for key, label in (("loss", "training loss"), ("accuracy", "accuracy")):
        steps = [m for m in metrics if m["type"] == "step" and m.get(key) is not None]
        if steps:
            fig, ax = plt.subplots(figsize=(6, 4))
            ax.plot([m["step"] for m in steps], [m[key] for m in steps])
            ax.set_xlabel("step")
            ax.set_ylabel(label)
            ax.set_title(label.capitalize())
            if key == "loss" and all(m[key] > 0 for m in steps):
                ax.set_yscale("log")
            ax.grid(True, alpha=0.3)
            written.append(_save(fig, run_dir / f"{key}.png"))
    return written


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
