"""The Rich live view of `livecmd listen` (one sink; JSON lines is the other), and the table of
audio input devices.

The view keeps the latest numbers the listen loop gives it and draws them: the input level, a
bar per label with its smoothed score, the recent detections, the decision latency, the audio
dropped, the device and the model. It redraws at most `fps` times a second however fast the
loop runs (a file in --fast mode gives hundreds of windows a second).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Sequence

import numpy as np
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from livecmd.stream.decide import Detection

LEVEL_FLOOR_DB = -60.0
"""The level meter's empty end, in dBFS (0 dBFS is full scale)."""

MAX_BARS = 32
"""More labels than this (MagnaTagATune's 50 tags) show the highest-scoring ones only."""


class LiveView:
    """Rich live view. `show(...)` after each batch of windows; `close()` at the end."""

    def __init__(
        self, labels: Sequence[str], thresholds: Sequence[float], model: str, device: str,
        console: Console | None = None, fps: float = 15.0, recent: int = 8,
    ):
        self.labels = tuple(labels)
        self.thresholds = np.asarray(thresholds, dtype=np.float32)
        self.model = model
        self.device = device
        self.console = console or Console()
        self.scores = np.zeros(len(self.labels), dtype=np.float32)
        self.level_db = LEVEL_FLOOR_DB
        self.stream_s = 0.0
        self.latency_ms: tuple[float, float] | None = None  # (p50, p99)
        self.dropped_s = 0.0
        self.detections: deque[tuple[Detection, float]] = deque(maxlen=recent)
        self._period = 1.0 / fps
        self._drawn = 0.0
        self._live: Live | None = None

    def show(
        self, scores: np.ndarray, level_db: float, stream_s: float,
        detections: Sequence[tuple[Detection, float]], latency_ms: tuple[float, float] | None, dropped_s: float,
    ) -> None:
        """Take the newest numbers: smoothed scores (labels,), input level in dBFS, stream
        time in seconds, new (detection, latency ms) pairs, latency (p50, p99) in ms, seconds
        of audio dropped so far; redraw when the last redraw is old enough."""
        self.scores = np.asarray(scores, dtype=np.float32)
        self.level_db = level_db
        self.stream_s = stream_s
        self.detections.extend(detections)
        self.latency_ms = latency_ms
        self.dropped_s = dropped_s
        self.refresh()

    def refresh(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._drawn < self._period:
            return
        self._drawn = now
        if self._live is None:
            self._live = Live(self.render(), console=self.console, auto_refresh=False, transient=False)
            self._live.start()
        else:
            self._live.update(self.render(), refresh=True)

    def close(self) -> None:
        """Draw the final state and leave it on the screen."""
        self.refresh(force=True)
        if self._live is not None:
            self._live.stop()

    def render(self) -> RenderableType:
        return Group(self._status(), self._bars(), self._recent())

    def _status(self) -> RenderableType:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, min_width=len("stream time"))  # names whole; values give way
        grid.add_column(no_wrap=True, overflow="ellipsis")
        level = (min(max(self.level_db, LEVEL_FLOOR_DB), 0.0) - LEVEL_FLOOR_DB) / -LEVEL_FLOOR_DB
        meter = Table.grid(padding=(0, 1))
        meter.add_row(ProgressBar(total=1.0, completed=level, width=30), Text(f"{self.level_db:6.1f} dBFS"))
        latency = "–" if self.latency_ms is None else f"p50 {self.latency_ms[0]:.1f} ms  p99 {self.latency_ms[1]:.1f} ms"
        grid.add_row("input level", meter)
        grid.add_row("stream time", f"{self.stream_s:.1f} s")
        grid.add_row("latency", latency)
        grid.add_row("dropped", Text(f"{self.dropped_s:.2f} s", style="bold red" if self.dropped_s else ""))
        grid.add_row("device", self.device)
        grid.add_row("model", self.model)
        return Panel(grid, title="livecmd listen", title_align="left", border_style="cyan")

    def _bars(self) -> RenderableType:
        order = np.arange(len(self.labels))
        if len(order) > MAX_BARS:
            order = np.sort(np.argsort(-self.scores, kind="stable")[:MAX_BARS])
        table = Table.grid(padding=(0, 1))
        table.add_column(justify="right", no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        for j in order:
            over = self.scores[j] >= self.thresholds[j]
            table.add_row(
                Text(self.labels[j], style="bold green" if over else ""),
                ProgressBar(total=1.0, completed=float(self.scores[j]), width=30,
                            complete_style="green" if over else "bar.complete"),
                f"{self.scores[j]:.2f}",
            )
        shown = "" if len(order) == len(self.labels) else f" (top {len(order)} of {len(self.labels)})"
        return Panel(table, title=f"smoothed scores{shown}", title_align="left")

    def _recent(self) -> RenderableType:
        table = Table(expand=False, box=None, padding=(0, 2))
        for column in ("time (s)", "label", "confidence", "latency (ms)"):
            table.add_column(column, justify="left" if column == "label" else "right", no_wrap=True)
        for detection, latency in reversed(self.detections):
            table.add_row(f"{detection.time:.2f}", detection.label, f"{detection.score:.2f}", f"{latency:.1f}")
        return Panel(table, title="recent detections", title_align="left")


def device_table(devices: Sequence[dict[str, Any]]) -> Table:
    """The audio input devices as `--list-devices` prints them (`input_devices()` rows)."""
    table = Table(title="Audio input devices (use --mic INDEX or --mic NAME)")
    if not devices:
        table.caption = "none: PortAudio sees no capture device here; use --input FILE"
    for column in ("index", "name", "host API", "channels", "default rate", "default"):
        table.add_column(column, justify="right" if column in ("index", "channels", "default rate") else "left")
    for d in devices:
        table.add_row(
            str(d["index"]), d["name"], d["hostapi"], str(d["channels"]),
            f"{d['rate']:.0f} Hz", "*" if d["default"] else "",
        )
    return table
