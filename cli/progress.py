"""Progress on rank 0: a bar on a terminal, otherwise a line every N steps."""
import sys
import time


class Progress:
    def __init__(self, total_steps, enabled=True, every=None, stream=None):
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self.total = total_steps
        self.every = every or max(1, total_steps // 10)
        self.done = 0
        self.last_line = 0
        self.start = time.monotonic()
        self.note = ""

    def iteration(self, window, iteration, residual):
        """An MGRIT iteration finished (shown on a terminal)."""
        if residual >= 0:
            self.note = f"window {window}, iteration {iteration}, |r| {residual:.2e}"
            if self.tty:
                self._bar(self.done)

    def steps(self, done, loss=None):
        """`done` steps are final (a window was solved)."""
        if not self.enabled:
            return
        self.note = "" if loss is None else f"loss {loss:.4g}"
        self.done = done
        if self.tty:
            self._bar(done)
        elif done - self.last_line >= self.every or done == self.total:
            self.stream.write(f"  step {done}/{self.total}  {self.note}  "
                              f"({time.monotonic() - self.start:.1f} s)\n")
            self.stream.flush()
            self.last_line = done

    def _bar(self, done):
        width = 30
        filled = int(width * done / self.total)
        self.stream.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
                          f"{self.note:<48}")
        if done == self.total:
            self.stream.write("\n")
        self.stream.flush()
