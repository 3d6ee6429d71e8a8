"""Where `livecmd listen`'s results go: the Rich live view, JSON lines, or a Python callback.

A sink takes an `Update` after each pass of the listen loop (`show`) and is closed at the end
(`close`). Adding a sink means adding a class here with those two methods.

The live view keeps the latest numbers and draws them, at most `fps` times a second however
fast the loop runs (a file in --fast mode gives hundreds of windows a second), in an 80×24
terminal: the input level, stream time, latency and dropped audio, the device and the model,
then side by side a bar per label and the detections, newest first. When it closes it leaves
the last frame and every detection of the run below it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Callable, Protocol, Sequence

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


def narrowband_hint(labels: Sequence[str]) -> str:
    """Shown under the level meter while the microphone is narrowband (`livecmd.stream.band`). It
    names the words such a microphone costs only where that was measured: the shipped commands'
    `yes` and `stop`; a custom vocabulary or a tag model hears of the lost band in general."""
    lost = ("Commands like yes and stop are missed" if {"yes", "stop"} <= set(labels)
            else "The model learned sound up to 8 kHz and misses more without it")
    return (f"nothing above 4 kHz: a headset in its hands-free mode or a phone line? {lost}: "
            "switch the headset to high quality or use another microphone")


MAX_BARS = 32
"""More labels than this (MagnaTagATune's 50 tags) show the highest-scoring ones only; fewer
when the terminal is not tall enough for them."""


@dataclass(frozen=True)
class Update:
    """One pass of the listen loop: the newest window's smoothed scores (labels,), the input
    level in dBFS, the stream time reached in seconds, the new detections with each one's
    latency in ms, the decision latency (p50, p99) in ms of recent windows, the seconds of
    audio dropped so far, the gain control's gain in dB (`livecmd.stream.level`), whether the
    microphone hears nothing above 4 kHz (`livecmd.stream.band`), and, while the microphone is
    gone and listen waits for it (`--reconnect`), why."""

    scores: np.ndarray
    level_db: float
    stream_s: float
    detections: Sequence[Detection]
    latencies_ms: Sequence[float]
    latency_ms: tuple[float, float] | None
    dropped_s: float
    gain_db: float = 0.0
    narrowband: bool = False
    lost: str | None = None


def heard_at(update: Update) -> list[datetime]:
    """The local date and time each of the update's detections was heard: now, less its latency
    (the time from its window's last sample to the decision)."""
    now = datetime.now().astimezone()
    return [now - timedelta(milliseconds=latency) for latency in update.latencies_ms]


class Sink(Protocol):
    def show(self, update: Update) -> None: ...

    def close(self) -> None: ...


class JsonLines:
    """For programs: one JSON object per detection on `out`, flushed at once, and nothing else:
    `{"time": s, "label": ..., "score": ..., "latency_ms": ...}`, with `wall_clock` (a microphone)
    also `"at"`: the local date and time the word's window ended, ISO 8601 to the millisecond, so
    that a log of listen left on all day says when each word was heard (stream time stops while a
    microphone is away), and `"wake": true` on a wake word's event (`--wake`). The narrowband hint (for a model of `labels`) goes to `err`, once, when
    the microphone first hears nothing above 4 kHz; so does each loss of the microphone and its
    return (`--reconnect`)."""

    def __init__(self, out: IO[str], err: IO[str] | None = None, labels: Sequence[str] = (), wall_clock: bool = False):
        self.out = out
        self.err = err
        self.hint = narrowband_hint(labels)
        self.wall_clock = wall_clock
        self._told = False
        self._lost: str | None = None

    def show(self, update: Update) -> None:
        if update.narrowband and not self._told and self.err is not None:
            print(f"livecmd listen: {self.hint}", file=self.err, flush=True)
            self._told = True
        if update.lost != self._lost and self.err is not None:
            back = f"microphone found: listening ({update.dropped_s:.1f} s of audio not heard in all)"
            print(f"livecmd listen: {update.lost or back}", file=self.err, flush=True)
        self._lost = update.lost
        for detection, latency, heard in zip(update.detections, update.latencies_ms, heard_at(update)):
            record = {"time": round(detection.time, 3), "label": detection.label,
                      "score": round(detection.score, 4), "latency_ms": round(latency, 2)}
            if detection.wake:
                record["wake"] = True
            if self.wall_clock:
                record["at"] = heard.isoformat(timespec="milliseconds")
            self.out.write(json.dumps(record) + "\n")
        if update.detections:
            self.out.flush()

    def close(self) -> None:
        self.out.flush()


class Callback:
    """Calls `on_detection(detection)` for each detection, in stream order, on the listen loop's
    thread (a slow callback delays scoring; audio waits in the ring meanwhile)."""

    def __init__(self, on_detection: Callable[[Detection], None]):
        self.on_detection = on_detection

    def show(self, update: Update) -> None:
        for detection in update.detections:
            self.on_detection(detection)

    def close(self) -> None:
        pass


class LiveView:
    """The Rich live view for people. `show(update)` after each pass; `close()` at the end. With
    `wall_clock` (a microphone) the detections show the local time each was heard (`at`), not
    the seconds of stream time, which after hours of listening say little and stop while a
    microphone is away."""

    def __init__(
        self, labels: Sequence[str], thresholds: Sequence[float], model: str, device: str,
        console: Console | None = None, fps: float = 15.0, wall_clock: bool = False,
    ):
        self.labels = tuple(labels)
        self.thresholds = np.asarray(thresholds, dtype=np.float32)
        self.model = model
        self.device = device
        self.console = console or Console()
        self.scores = np.zeros(len(self.labels), dtype=np.float32)
        self.level_db = LEVEL_FLOOR_DB
        self.gain_db = 0.0
        self.narrowband = False
        self.lost: str | None = None
        self.stream_s = 0.0
        self.latency_ms: tuple[float, float] | None = None  # (p50, p99)
        self.dropped_s = 0.0
        self.wall_clock = wall_clock
        self.detections: list[tuple[Detection, float, datetime]] = []  # the whole run's, with latencies and when heard
        self._period = 1.0 / fps
        self._drawn = -float("inf")
        self._live: Live | None = None

    def show(self, update: Update) -> None:
        """Take the newest numbers; redraw when the last redraw is old enough."""
        self.scores = np.asarray(update.scores, dtype=np.float32)
        self.level_db = update.level_db
        self.gain_db = update.gain_db
        self.narrowband = update.narrowband
        self.lost = update.lost
        self.stream_s = update.stream_s
        self.detections.extend(zip(update.detections, update.latencies_ms, heard_at(update)))
        self.latency_ms = update.latency_ms
        self.dropped_s = update.dropped_s
        self.refresh(force=bool(update.detections) or update.lost is not None)  # a new detection or a lost microphone shows at once

    def refresh(self, force: bool = False) -> None:
        import time

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
        """Draw the final state and leave it on the screen, then every detection of the run."""
        self.refresh(force=True)
        if self._live is not None:
            self._live.stop()
        self.console.print(self._history())

    def render(self) -> RenderableType:
        status = self._status()
        # what the terminal has left below the status panel: the panels' borders and the
        # detections' header take 3 rows, and the last row stays free for the cursor
        room = self.console.height - self._height(status) - 4
        body = Table.grid(padding=(0, 1), expand=True)
        body.add_column(ratio=1)
        body.add_column(ratio=1)
        bars, shown = self._bars(max(1, room))
        body.add_row(bars, self._recent(max(1, shown)))
        return Group(status, body)

    def _height(self, renderable: RenderableType) -> int:
        return len(self.console.render_lines(renderable, self.console.options, pad=False))

    def _status(self) -> RenderableType:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column(overflow="fold")  # long names wrap rather than being cut
        level = (min(max(self.level_db, LEVEL_FLOOR_DB), 0.0) - LEVEL_FLOOR_DB) / -LEVEL_FLOOR_DB
        meter = Table.grid(padding=(0, 1))
        gain = f"  gain +{self.gain_db:.0f} dB" if self.gain_db >= 0.5 else ""  # a quiet microphone brought up
        meter.add_row(ProgressBar(total=1.0, completed=level, width=24), Text(f"{self.level_db:6.1f} dBFS{gain}"))
        latency = "–" if self.latency_ms is None else f"p50 {self.latency_ms[0]:.1f} ms  p99 {self.latency_ms[1]:.1f} ms"
        timing = Text(f"{self.stream_s:.1f} s   latency {latency}   dropped ")
        timing.append(f"{self.dropped_s:.2f} s", style="bold red" if self.dropped_s else "")
        grid.add_row("input", meter)
        if self.lost:
            grid.add_row("", Text(self.lost, style="bold red"))
        if self.narrowband:
            grid.add_row("", Text(narrowband_hint(self.labels), style="bold yellow"))
        grid.add_row("stream", timing)
        grid.add_row("device", self.device)
        grid.add_row("model", self.model)
        return Panel(grid, title="livecmd listen", title_align="left", border_style="cyan")

    def _bars(self, room: int) -> tuple[RenderableType, int]:
        """The score bars, as many labels as `room` rows allow (the highest scores first when
        some are left out, shown in label order), and how many rows they take."""
        order = np.arange(len(self.labels))
        most = min(MAX_BARS, room)
        if len(order) > most:
            order = np.sort(np.argsort(-self.scores, kind="stable")[:most])
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(justify="right", no_wrap=True, overflow="ellipsis", max_width=18)
        table.add_column(ratio=1)
        table.add_column(justify="right", no_wrap=True)
        for j in order:
            over = self.scores[j] >= self.thresholds[j]
            table.add_row(
                Text(self.labels[j], style="bold green" if over else ""),
                ProgressBar(total=1.0, completed=float(self.scores[j]), complete_style="green" if over else "bar.complete"),
                f"{self.scores[j]:.2f}",
            )
        shown = "" if len(order) == len(self.labels) else f" (top {len(order)} of {len(self.labels)})"
        return Panel(table, title=f"scores{shown}", title_align="left"), len(order)

    def _recent(self, rows: int) -> RenderableType:
        """The newest detections first, as many as fit beside the bars (`rows` lines in all)."""
        newest = self.detections[-max(1, rows - 1):]
        total = len(self.detections)
        title = "detections, newest first" if len(newest) == total else f"newest {len(newest)} of {total} detections"
        return Panel(_detection_table(reversed(newest), self.wall_clock), title=title, title_align="left")

    def _history(self) -> RenderableType:
        if not self.detections:
            return Text("no detections", style="dim")
        table = _detection_table(self.detections, self.wall_clock)
        table.title = f"{len(self.detections)} detection{'' if len(self.detections) == 1 else 's'}"
        table.title_justify = "left"
        return table


def _detection_table(rows, wall_clock: bool) -> Table:
    """(detection, latency, when heard) rows: the time as the local clock's (`wall_clock`) or in
    seconds of stream time."""
    table = Table(box=None, padding=(0, 1), expand=False)
    for column in ("at" if wall_clock else "time s", "label", "score", "latency ms"):
        table.add_column(column, justify="left" if column == "label" else "right", no_wrap=True,
                         overflow="ellipsis", max_width=24 if column == "label" else None)
    for detection, latency, heard in rows:
        when = heard.strftime("%H:%M:%S") if wall_clock else f"{detection.time:.2f}"
        label = Text(f"{detection.label} (wake)", style="magenta") if detection.wake else detection.label
        table.add_row(when, label, f"{detection.score:.2f}", f"{latency:.1f}")
    return table
