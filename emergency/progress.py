"""A one-line progress bar for long CLI work (stderr; plain lines when not a terminal)."""

from __future__ import annotations

import sys
import time


class Progress:
    """``with Progress("replaying", total) as p: p.update(n)``."""

    def __init__(self, label: str, total: int | None, stream=sys.stderr, width: int = 30) -> None:
        self.label, self.total, self.stream, self.width = label, total, stream, width
        self.done = 0
        self._tty = hasattr(stream, "isatty") and stream.isatty()
        self._last = 0.0
        self._start = time.monotonic()

    def __enter__(self) -> Progress:
        self._draw(force=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._draw(force=True)
        if self._tty:
            self.stream.write("\n")
        self.stream.flush()

    def update(self, done: int) -> None:
        self.done = done
        self._draw()

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < (0.1 if self._tty else 2.0):
            return
        self._last = now
        elapsed = now - self._start
        if self.total:
            frac = min(1.0, self.done / self.total)
            bar = "#" * int(frac * self.width) + "-" * (self.width - int(frac * self.width))
            line = f"{self.label} [{bar}] {self.done}/{self.total} ({frac:4.0%}) {elapsed:5.1f}s"
        else:
            line = f"{self.label} {self.done} {elapsed:5.1f}s"
        self.stream.write(("\r" + line) if self._tty else (line + "\n"))
        self.stream.flush()
