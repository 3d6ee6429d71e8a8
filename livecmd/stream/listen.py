"""`livecmd listen`: source → ring → windows → engine → decide → sinks.

`listen(options)` checks the input, loads the weights and wires the stages; `run(...)` is the
loop. Every `hop` samples a window of the model's input length ends; the loop takes all the
windows that are waiting in the ring (up to a batch), scores them with the engine, smooths and
decides, and hands the results to one sink: the Rich live view, or JSON lines on stdout.

Latency is measured per window, from the arrival of its last sample in the ring (the end of the
source's write that brought it) to the moment its decision is made.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Protocol, Sequence

import numpy as np
from rich.console import Console

from livecmd import audio
from livecmd.domains import SAMPLE_RATE, get_domain
from livecmd.errors import LivecmdError
from livecmd.stream import sources
from livecmd.stream.decide import DEFAULT_THRESHOLD, DecideSettings, Decider, Detection, parse_thresholds
from livecmd.stream.ring import Ring, window_ends
from livecmd.ui import LiveView, device_table

if TYPE_CHECKING:  # engine.py imports torch, which `listen` loads only after checking its input
    from livecmd.stream.engine import Engine

BLOCK_SECONDS = 0.02
"""Microphone callback and paced-file block: 20 ms, a common audio callback period."""

FAST_BLOCK = 8192
"""Samples per write when a file is read as fast as possible."""

RECENT_LATENCIES = 1000
"""The live view's p50/p99 are over this many most recent windows; the summary's over all."""


@dataclass(frozen=True)
class ListenOptions:
    """The command line of `livecmd listen`, validated by `listen`."""

    input: Path | None = None  # a clip; None = the microphone
    fast: bool = False  # read the clip as fast as possible instead of in real time
    mic: str | None = None  # input device index or name; None = the default input
    mic_rate: int | None = None  # capture rate; None = the model's, else the device's own
    weights: Path | None = None  # None = the shipped speech weights
    device: str = "auto"  # compute device: auto, cpu, cuda
    json: bool = False  # JSON lines on stdout instead of the live view
    hop_ms: float = 100.0  # one window every hop
    smooth_ms: float = 300.0  # scores averaged over this span of windows
    thresholds: tuple[str, ...] = ()  # "0.6" for all labels, "LABEL=0.8" for one
    refractory_ms: float = 1000.0  # no second event this soon after one
    hold_ms: float | None = None  # the smoothed score must stay above the threshold this long; None = the weights' own, else 0
    buffer_s: float = 4.0  # ring capacity: how far the reader may fall behind before audio drops
    max_batch: int = 16  # windows scored at once when several are waiting
    duration: float | None = None  # stop after this many seconds of audio
    engine: str = "auto"  # inference: auto, cached, folded, torch (livecmd.stream.engine)
    threads: int = 1  # CPU compute threads
    precision: str = "auto"  # cached and folded engines: auto, bf16, fp32


class Sink(Protocol):
    """Where each batch's results go: the Rich live view (`livecmd.ui.LiveView`) or JSON lines."""

    def show(
        self, scores: np.ndarray, level_db: float, stream_s: float,
        detections: Sequence[tuple[Detection, float]], latency_ms: tuple[float, float] | None, dropped_s: float,
    ) -> None: ...

    def close(self) -> None: ...


class JsonLines:
    """The machine sink: one JSON object per detection on `out`, flushed at once, and nothing
    else: `{"time": s, "label": ..., "score": ..., "latency_ms": ...}`."""

    def __init__(self, out: IO[str]):
        self.out = out

    def show(self, scores: np.ndarray, level_db: float, stream_s: float,
             detections: Sequence[tuple[Detection, float]], latency_ms: tuple[float, float] | None,
             dropped_s: float) -> None:
        for detection, latency in detections:
            record = {"time": round(detection.time, 3), "label": detection.label,
                      "score": round(detection.score, 4), "latency_ms": round(latency, 2)}
            self.out.write(json.dumps(record) + "\n")
        if detections:
            self.out.flush()

    def close(self) -> None:
        self.out.flush()


@dataclass
class Totals:
    """What a run did, for the summary line."""

    sample_rate: int
    windows: int = 0
    detections: int = 0
    samples: int = 0  # stream time reached, in samples
    dropped: int = 0
    wall_s: float = 0.0
    latency_ms: list[float] = field(default_factory=list)

    def line(self, device: str, model: str) -> str:
        rate = self.windows / self.wall_s if self.wall_s > 0 else 0.0
        latency = "latency –" if not self.latency_ms else "latency p50 {:.1f} ms p99 {:.1f} ms".format(
            *np.percentile(self.latency_ms, [50, 99]))
        return (f"livecmd listen: {self.samples / self.sample_rate:.1f} s of audio, {self.windows} windows "
                f"({rate:.0f}/s), {self.detections} detection{'' if self.detections == 1 else 's'}, {latency}, "
                f"dropped {self.dropped / self.sample_rate:.2f} s; {device}, {model}")


def print_devices() -> None:
    """`--list-devices`: the audio inputs as a Rich table."""
    Console().print(device_table(sources.input_devices()))


def listen(options: ListenOptions, out: IO[str] | None = None, err: IO[str] | None = None) -> Totals:
    """Run `livecmd listen` until the clip ends, `options.duration` passes, or Ctrl-C: events
    to `out` (the live view, or JSON lines), the summary line to `err`. Returns the totals."""
    out = out or sys.stdout
    err = err or sys.stderr
    if options.hop_ms <= 0:
        raise LivecmdError(f"--hop-ms {options.hop_ms:g}: give a positive hop, e.g. 100")
    if options.duration is not None and options.duration <= 0:
        raise LivecmdError(f"--duration {options.duration:g}: give a positive number of seconds")
    if options.input is not None and options.mic is not None:
        raise LivecmdError("--input and --mic both given: listen to a clip (--input) or a microphone (--mic), not both")
    if options.input is not None and options.mic_rate is not None:
        raise LivecmdError("--mic-rate is the microphone's capture rate: a clip (--input) is resampled from its own rate")
    if options.input is None and options.fast:
        raise LivecmdError("--fast reads a clip as fast as possible: give the clip with --input FILE")
    # The input is checked before anything slow (torch takes seconds to import), so a machine
    # without a microphone, or a mistyped clip, gets its answer at once. Clips are decoded at
    # the paper's 16 kHz, the rate of every domain; weights at another rate resample once more.
    mic = None if options.input is not None else sources.find_microphone(options.mic)
    clip = audio.load(options.input, SAMPLE_RATE) if options.input is not None else None

    import torch

    from livecmd import weights
    from livecmd.compute import pick_device
    from livecmd.stream.engine import choose_engine, describe, engine_hop, keep_heap, make_engine
    from livecmd.stream.folded import foldable_arch

    path = Path(options.weights) if options.weights is not None else weights.shipped("speech")
    meta = weights.read_meta(path)
    domain = get_domain(meta.domain)
    rate, length = meta.sample_rate, meta.input_samples
    device = pick_device(options.device)
    kind = choose_engine(options.engine, options.precision, foldable_arch(meta.arch), device)
    hop, capacity = _hop_and_capacity(options, rate, length, lambda hop: engine_hop(kind, hop, length))
    # The weights may carry the threshold they were tuned for (`listen.threshold` in their
    # metadata, set by the speech recipe on a stream of held-out speakers); --threshold overrides.
    tuned_for = meta.extra.get("listen")
    tuned = tuned_for.get("threshold", DEFAULT_THRESHOLD) if isinstance(tuned_for, dict) else DEFAULT_THRESHOLD
    if not isinstance(tuned, (int, float)) or not 0.0 < tuned <= 1.0:
        raise LivecmdError(f"{path}: its tuned threshold {tuned!r} is not a score in (0, 1]; give one with --threshold")
    thresholds = parse_thresholds(options.thresholds, meta.labels, default=tuned)
    if isinstance(tuned_for, dict) and isinstance(tuned_for.get("thresholds"), dict):  # tuned per label
        thresholds = parse_thresholds([f"{k}={v}" for k, v in tuned_for["thresholds"].items()] + list(options.thresholds), meta.labels, default=tuned)
    hold_ms = options.hold_ms if options.hold_ms is not None else float(tuned_for.get("hold_ms", 0.0)) if isinstance(tuned_for, dict) else 0.0
    if hold_ms < 0:
        raise LivecmdError(f"--hold-ms {hold_ms:g}: give 0 or more milliseconds")

    keep_heap()
    torch.set_num_threads(options.threads)
    engine = make_engine(kind, weights.load(path, device).model, device, domain.multi_label, length, len(meta.labels), options.max_batch, hop, options.precision)
    engine.warm_up()
    decider = Decider(DecideSettings(
        labels=meta.labels, thresholds=thresholds,
        smooth_windows=max(1, round(options.smooth_ms * rate / 1000 / hop)),
        refractory=round(options.refractory_ms * rate / 1000),
        multi_label=domain.multi_label, sample_rate=rate, hold_windows=1 + round(hold_ms * rate / 1000 / hop),
    ))
    ring = Ring(capacity)
    block = round(BLOCK_SECONDS * rate)
    source: sources.Source
    if clip is not None:
        # The clip goes on in silence for one window less a hop, as a microphone would go on
        # hearing the room: its last word (or all of a clip shorter than a window) is heard whole;
        # a clip shorter than a hop still fills the first window.
        resampled = audio.resample(clip, SAMPLE_RATE, rate)
        wave = np.concatenate([resampled, np.zeros(max(length - hop, length - len(resampled)), dtype=np.float32)])
        source = sources.FileSource(ring, wave, rate, FAST_BLOCK if options.fast else block, realtime=not options.fast)
        heard = f"{options.input} ({'fast' if options.fast else 'real time'})"
    else:
        source = sources.MicSource(ring, mic, rate, block, options.mic_rate)
        heard = f"microphone {source.name!r}"
        if source.capture_rate != rate:
            heard += f" (captured at {source.capture_rate} Hz, resampled)"
    sink: Sink
    if options.json:
        sink = JsonLines(out)
        if clip is None:  # a program reading the JSON lines may wait for this to start talking
            print(f"livecmd listen: listening to {heard} at {rate} Hz; Ctrl-C to stop", file=err, flush=True)
    else:
        model = f"{path.name} ({meta.arch}, {meta.domain}, {len(meta.labels)} labels, {length / rate:g} s windows every {1000 * hop / rate:g} ms)"
        sink = LiveView(meta.labels, thresholds, model, f"{describe(device)}, {engine.name} engine; input {heard}", Console(file=out))
    stop_at = None if options.duration is None else round(options.duration * rate)
    totals = run(ring, source, engine, decider, sink, length, hop, options.max_batch, stop_at, rate)
    print(totals.line(f"{describe(device)}, {engine.name} engine", path.name), file=err, flush=True)
    if source.failure is not None:  # the microphone vanished: what was heard is above, then why it stopped
        raise LivecmdError(source.failure)
    return totals


def _hop_and_capacity(
    options: ListenOptions, rate: int, length: int, snap: Callable[[int], int] = lambda hop: hop,
) -> tuple[int, int]:
    """The hop and the ring's capacity in samples, or a user error when they cannot work with
    windows of `length` samples; `snap` turns the requested hop into the engine's (the cached
    engine's grid)."""
    hop = round(options.hop_ms * rate / 1000)
    if not 0 < hop <= length:
        raise LivecmdError(
            f"--hop-ms {options.hop_ms:g}: the hop must be between one sample and the model's "
            f"window ({1000 * length / rate:g} ms)")
    hop = snap(hop)
    capacity = round(options.buffer_s * rate)
    if capacity < length + hop:
        raise LivecmdError(
            f"--buffer-s {options.buffer_s:g}: the ring must hold a window plus a hop "
            f"({(length + hop) / rate:g} s or more)")
    return hop, capacity


def run(
    ring: Ring, source: sources.Source, engine: Engine, decider: Decider, sink: Sink,
    length: int, hop: int, max_batch: int, stop_at: int | None, sample_rate: int,
) -> Totals:
    """The loop: start `source`, score every window of `length` samples ending on the grid
    length + k·hop (at most `max_batch` at once) until the ring closes, `stop_at` samples are
    reached, or Ctrl-C; then stop the source and close the sink. The ring must hold at least
    `length + hop` samples, so a reader that fell behind always finds a whole window."""
    totals = Totals(sample_rate)
    batch = np.empty((max_batch, length), dtype=np.float32)
    next_end = length
    started = time.perf_counter()
    source.start()
    try:
        while stop_at is None or next_end <= stop_at:
            if not ring.wait_for(next_end, timeout=0.1):
                if ring.closed:
                    break
                continue
            limit = max_batch if stop_at is None else min(max_batch, (stop_at - next_end) // hop + 1)
            ends = window_ends(next_end, ring.written, ring.oldest, length, hop, limit)
            if ends[0] > next_end:  # fell behind: the audio before the first whole window is given up
                ring.skip(int(ends[0]) - length)
            read = np.array([ring.read(int(end), length, batch[i]) is not None for i, end in enumerate(ends)])
            next_end = int(ends[-1]) + hop
            ring.release(next_end - length)
            if not read.any():  # overwritten while we looked: the next round jumps ahead
                continue
            ends, windows = ends[read], batch[: len(ends)][read]
            scores = engine(windows)
            smoothed, detections = decider.update(ends, scores)
            latency = (time.perf_counter() - ring.arrival_times(ends - 1)) * 1000.0
            totals.windows += len(ends)
            totals.detections += len(detections)
            totals.samples = int(ends[-1])
            totals.dropped = ring.dropped
            totals.latency_ms.extend(latency.tolist())
            by_end = dict(zip(ends.tolist(), latency.tolist()))
            sink.show(
                scores=smoothed[-1],
                level_db=_level_db(windows[-1, -hop:]),
                stream_s=int(ends[-1]) / sample_rate,
                detections=[(d, by_end[d.end]) for d in detections],
                latency_ms=tuple(np.percentile(totals.latency_ms[-RECENT_LATENCIES:], [50, 99])),
                dropped_s=ring.dropped / sample_rate,
            )
    except KeyboardInterrupt:
        pass
    finally:
        source.stop()
        sink.close()
    totals.dropped = ring.dropped
    totals.wall_s = time.perf_counter() - started
    return totals


def _level_db(samples: np.ndarray) -> float:
    """RMS level in dBFS (0 = a full-scale square wave), floored at -100."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(-100.0, 20.0 * np.log10(max(rms, 1e-5)))

