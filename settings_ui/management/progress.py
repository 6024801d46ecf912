"""A small progress bar for long commands: redrawn in place on a terminal, in 10 % steps elsewhere."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, label: str, stream=None, width: int = 30):
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_step, self.last_draw, self.started = -1, 0.0, time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        pct = 100 if not total else min(100, done * 100 // total)
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw < 0.1 and pct < 100:
                return
            self.last_draw = now
            filled = self.width * pct // 100
            bar = "#" * filled + "-" * (self.width - filled)
            total_text = f"{total:,}" if total else "?"
            self.stream.write(f"\r{self.label} [{bar}] {pct:3d}% {done:,}/{total_text} rows")
            self.stream.flush()
        elif pct // 10 != self.last_step:
            self.last_step = pct // 10
            self.stream.write(f"{self.label}: {pct}% ({done:,} rows)\n")

    def finish(self) -> None:
        if self.tty:
            self.stream.write(f"  {time.monotonic() - self.started:.1f} s\n")
            self.stream.flush()
