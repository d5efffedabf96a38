"""Progress of a long command: a bar redrawn in place on a terminal, plain lines elsewhere."""

import sys
from typing import TextIO


class ProgressReporter:
    """Call with (label, done, total) after each step; writes to `stream` (stderr)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.interactive = self.stream.isatty()

    def __call__(self, label: str, done: int, total: int) -> None:
        if not self.interactive:
            # Logs and CI keep one readable line per step.
            self.stream.write(f"{label}: {done}/{total}\n")
        else:
            filled = self.width * done // total if total else self.width
            bar = "#" * filled + "." * (self.width - filled)
            percent = 100 * done // total if total else 100
            self.stream.write(f"\r{label:<8} [{bar}] {done}/{total} {percent:3d}%")
            if done >= total:
                self.stream.write("\n")
        self.stream.flush()
