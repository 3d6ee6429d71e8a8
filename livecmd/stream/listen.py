"""`livecmd listen`: source → ring → `Recognizer` → sinks.

`listen(options)` checks the command line, builds the recognizer (`livecmd.recognizer`), the
source and the sinks (`livecmd.sinks`); `steps(...)` is the loop: it takes the audio waiting in
the ring, at most a batch of windows' worth, feeds it to the recognizer and reports each pass
as an `Update`; `run(...)` hands the updates to the sinks.

Latency is measured per window, from the arrival of its last sample in the ring (the end of the
source's write that brought it) to the moment its decision is made.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterator, Sequence

import numpy as np
from rich.console import Console

from livecmd import audio, interrupts
from livecmd.domains import SAMPLE_RATE
from livecmd.errors import LivecmdError
from livecmd.sinks import JsonLines, LiveView, Sink, Update
from livecmd.stream import sources
from livecmd.stream.gate import OPEN_SECONDS, check_wake
from livecmd.stream.ring import Ring

if TYPE_CHECKING:  # the recognizer imports torch, which `listen` loads only after checking its input
    from livecmd.recognizer import Recognizer
    from livecmd.stream.decide import Detection

BLOCK_SECONDS = 0.02
"""Microphone callback and paced-file block: 20 ms, a common audio callback period."""

FAST_BLOCK = 8192
"""Samples per write when a file is read as fast as possible."""

RECENT_LATENCIES = 1000
"""The live view's p50/p99 are over this many most recent windows; the summary's over all."""

BUFFER_SECONDS = 4.0
"""The ring's default capacity: how far scoring may fall behind before the oldest audio drops."""


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
    hold_ms: float | None = None  # the smoothed score must stay above the threshold this long; None = the weights' own
    max_utterance_ms: float | None = None  # no event within a longer run of voice (0: any length); None = the weights' own
    peak_ms: float | None = None  # multi-class: fire the highest peak once no score has risen this long (0: at the hold); None = the weights' own
    agc: bool = True  # automatic gain control for a domain that has one (speech): soft audio brought up (livecmd.stream.level)
    slow_speech: bool | None = None  # each window heard 1.25 times as fast too (livecmd.stream.slow_speech); None = the weights' own
    only: tuple[str, ...] | None = None  # ("yes,stop",): listen for these labels alone, the others count as _unknown_
    wake: str | Path | None = None  # a wake word: a shipped one's name or weights; commands count only --wake-s seconds after it (livecmd.stream.gate)
    wake_s: float = OPEN_SECONDS
    wake_threshold: float | None = None  # the wake word's smoothed score that fires; None = its weights' own
    reconnect: bool = False  # a microphone that goes away is waited for instead of ending listen (sources.ReconnectingMic)
    buffer_s: float = BUFFER_SECONDS  # ring capacity: how far the reader may fall behind before audio drops
    max_batch: int = 16  # windows scored at once when several are waiting
    duration: float | None = None  # stop after this many seconds of audio
    engine: str = "auto"  # inference: auto, cached, folded, torch (livecmd.stream.engine)
    threads: int = 1  # CPU compute threads
    precision: str = "auto"  # cached and folded engines: auto, bf16, fp32


LATENCY_BINS_MS = np.geomspace(0.01, 1e6, 1853)
"""The summary's latency histogram: bin edges from 10 µs to 1000 s, each 1% above the last."""


class Latencies:
    """The decision latencies of a run, in memory that does not grow with it (listen is left on
    for days; a list of every window's latency grew by 32 bytes a window, 1.1 MB an hour, 27 MB
    a day): the last `RECENT_LATENCIES` as they are, for the live view's p50 and p99, and every
    one counted in a histogram of 1%-wide bins, for the summary's (within 1%), with the largest."""

    def __init__(self) -> None:
        self._recent: deque[float] = deque(maxlen=RECENT_LATENCIES)
        self._counts = np.zeros(len(LATENCY_BINS_MS) + 1, dtype=np.int64)
        self.count = 0
        self.most = 0.0

    def add(self, ms: np.ndarray) -> None:
        self._recent.extend(ms.tolist())
        np.add.at(self._counts, np.searchsorted(LATENCY_BINS_MS, ms), 1)
        self.count += len(ms)
        self.most = max(self.most, float(ms.max(initial=0.0)))

    def recent(self) -> tuple[float, float] | None:
        """(p50, p99) in ms of the last `RECENT_LATENCIES` windows; None before any."""
        if not self._recent:
            return None
        p50, p99 = np.percentile(self._recent, [50, 99])
        return float(p50), float(p99)

    def overall(self) -> tuple[float, float] | None:
        """(p50, p99) in ms of every window of the run, from the histogram: each its bin's
        geometric middle; None before any."""
        if not self.count:
            return None
        bin_of = np.searchsorted(np.cumsum(self._counts), [0.5 * self.count, 0.99 * self.count])
        edges = np.clip(bin_of, 1, len(LATENCY_BINS_MS) - 1)
        middle = np.sqrt(LATENCY_BINS_MS[edges - 1] * LATENCY_BINS_MS[edges])
        return float(middle[0]), float(middle[1])


@dataclass
class Totals:
    """What a run did, for the summary line."""

    sample_rate: int
    started: float  # time.perf_counter() at the start
    windows: int = 0
    detections: int = 0
    samples: int = 0  # stream time reached, in samples
    dropped: int = 0
    wall_s: float = 0.0
    latencies: Latencies = field(default_factory=Latencies)

    def line(self, device: str, model: str) -> str:
        rate = self.windows / self.wall_s if self.wall_s > 0 else 0.0
        overall = self.latencies.overall()
        latency = "latency –" if overall is None else "latency p50 {:.1f} ms p99 {:.1f} ms".format(*overall)
        return (f"livecmd listen: {self.samples / self.sample_rate:.1f} s of audio, {self.windows} windows "
                f"({rate:.0f}/s), {self.detections} detection{'' if self.detections == 1 else 's'}, {latency}, "
                f"dropped {self.dropped / self.sample_rate:.2f} s; {device}, {model}")


def print_devices() -> None:
    """`--list-devices`: the audio inputs as a Rich table."""
    Console().print(sources.device_table(sources.input_devices()))


def listen(options: ListenOptions, out: IO[str] | None = None, err: IO[str] | None = None) -> Totals:
    """Run `livecmd listen` until the clip ends, `options.duration` passes, or Ctrl-C: events
    to `out` (the live view, or JSON lines), the summary line to `err`. Returns the totals."""
    out = out or sys.stdout
    err = err or sys.stderr
    if options.hop_ms <= 0:
        raise LivecmdError(f"--hop-ms {options.hop_ms:g}: give a positive hop, e.g. 100")
    if options.smooth_ms < 0:
        raise LivecmdError(f"--smooth-ms {options.smooth_ms:g}: give 0 (no smoothing) or more, e.g. 300")
    if options.refractory_ms < 0:
        raise LivecmdError(f"--refractory-ms {options.refractory_ms:g}: give 0 or more, e.g. 1000")
    if options.duration is not None and options.duration <= 0:
        raise LivecmdError(f"--duration {options.duration:g}: give a positive number of seconds")
    if options.input is not None and options.mic is not None:
        raise LivecmdError("--input and --mic both given: listen to a clip (--input) or a microphone (--mic), not both")
    if options.input is not None and options.mic_rate is not None:
        raise LivecmdError("--mic-rate is the microphone's capture rate: a clip (--input) is resampled from its own rate")
    if options.input is not None and options.reconnect:
        raise LivecmdError("--reconnect waits for a microphone that goes away: a clip (--input) does not")
    if options.input is None and options.fast:
        raise LivecmdError("--fast reads a clip as fast as possible: give the clip with --input FILE")
    every, per_label = _thresholds(options.thresholds)
    settings = dict(
        threshold=every, thresholds=per_label, device=options.device, engine=options.engine, hop_ms=options.hop_ms,
        smooth_ms=options.smooth_ms, refractory_ms=options.refractory_ms, hold_ms=options.hold_ms,
        max_utterance_ms=options.max_utterance_ms, peak_ms=options.peak_ms, agc=options.agc, only=options.only,
        slow_speech=options.slow_speech, precision=options.precision, threads=options.threads, max_batch=options.max_batch)
    recognizer, ring, source, heard = start(
        options.input, options.weights, settings, mic=options.mic, reconnect=options.reconnect, realtime=not options.fast,
        wake=options.wake, wake_s=options.wake_s, wake_threshold=options.wake_threshold, buffer_s=options.buffer_s,
        mic_rate=options.mic_rate)
    rate = recognizer.sample_rate
    sink: Sink
    if options.json:
        sink = JsonLines(out, err, recognizer.labels, wall_clock=options.input is None)
        if options.input is None:  # a program reading the JSON lines may wait for this to start talking
            print(f"livecmd listen: listening to {heard} at {rate} Hz; Ctrl-C to stop", file=err, flush=True)
    else:
        sink = LiveView(recognizer.labels, recognizer.thresholds, recognizer.describe(),
                        f"{recognizer.engine_name}; input {heard}", Console(file=out), wall_clock=options.input is None)
    stop_at = None if options.duration is None else round(options.duration * rate)
    totals = run(ring, source, recognizer, [sink], stop_at)
    print(totals.line(recognizer.engine_name, recognizer.weights.name), file=err, flush=True)
    if source.failure is not None:  # the microphone vanished: what was heard is above, then why it stopped
        raise LivecmdError(source.failure)
    return totals


def _thresholds(specs: Sequence[str]) -> tuple[float | None, dict[str, float]]:
    """`--threshold` values (`0.6` for every label, `LABEL=0.8` for one; later ones win) as the
    recognizer takes them: (every label's, {label: score}); a user error for one that is no
    score in (0, 1]."""
    every: float | None = None
    labels: dict[str, float] = {}
    for spec in specs:
        label, _, value = spec.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not 0.0 < number <= 1.0:
            raise LivecmdError(f"--threshold {spec!r}: give a score in (0, 1], as 0.6 or LABEL=0.6")
        if label:
            labels[label] = number
        else:
            every, labels = number, {}
    return every, labels


def start(
    input: str | Path | None, weights: str | Path | None, settings: dict[str, object], *, mic: str | None = None,
    reconnect: bool = False, realtime: bool = True, wake: str | Path | None = None, wake_s: float = OPEN_SECONDS,
    wake_threshold: float | None = None, buffer_s: float = BUFFER_SECONDS, mic_rate: int | None = None,
) -> tuple[Recognizer, Ring, sources.Source, str]:
    """Everything before the first window, for `livecmd listen` and `livecmd.listen` alike: the
    recognizer (`settings`: its keyword options; with a wake word's weights, its gate), the
    ring and the source (`open_source`), and how the input is named. The microphone and the
    wake word's file are checked before anything slow (torch takes seconds to import), so a
    machine without a microphone gets its answer at once. Clips are decoded at the paper's
    16 kHz, the rate of every domain; weights at another rate resample once more."""
    from livecmd.recognizer import Recognizer

    if input is None and not reconnect:  # with reconnect one not there yet is waited for
        sources.find_microphone(mic)
    if wake is not None:
        wake = check_wake(wake, wake_s)
    clip = audio.load(input, SAMPLE_RATE) if input is not None else None
    recognizer = Recognizer(weights, **settings, wake=wake, wake_s=wake_s, wake_threshold=wake_threshold)
    needed = recognizer.window_samples + recognizer.hop
    if round(buffer_s * recognizer.sample_rate) < needed:
        raise LivecmdError(
            f"--buffer-s {buffer_s:g}: the ring must hold a window plus a hop ({needed / recognizer.sample_rate:g} s or more)")
    ring, source, heard = open_source(recognizer, clip, mic, realtime, buffer_s, mic_rate, reconnect)
    return recognizer, ring, source, heard


def open_source(
    recognizer: Recognizer, clip: np.ndarray | None, mic: str | None, realtime: bool,
    buffer_s: float = BUFFER_SECONDS, mic_rate: int | None = None, reconnect: bool = False,
) -> tuple[Ring, sources.Source, str]:
    """The ring and the source that writes `clip` (16 kHz; paced in `realtime` or as fast as the
    reader takes it) or captures the microphone `mic` names (`--mic`; None: the default input)
    into it at the recognizer's rate (waiting for it while it is away, with `reconnect`), and how
    the input is named in the view."""
    rate = recognizer.sample_rate
    ring = Ring(max(round(buffer_s * rate), recognizer.window_samples + recognizer.hop))
    block = round(BLOCK_SECONDS * rate)
    if clip is not None:
        # The clip goes on in silence, as a microphone would go on hearing the room: its last
        # word (or all of a clip shorter than a window) is heard whole.
        resampled = audio.resample(clip, SAMPLE_RATE, rate)
        wave = np.concatenate([resampled, np.zeros(recognizer.end_silence(len(resampled)), dtype=np.float32)])
        return ring, sources.FileSource(ring, wave, rate, block if realtime else FAST_BLOCK, realtime), "a clip"
    source: sources.ReconnectingMic | sources.MicSource
    if reconnect:
        source = sources.ReconnectingMic(ring, mic, rate, block, mic_rate)
    else:
        source = sources.MicSource(ring, sources.find_microphone(mic), rate, block, mic_rate)
    heard = f"microphone {source.name!r}" if source.lost is None else f"{source.name} (none there yet)"
    if source.capture_rate != rate:
        heard += f" (captured at {source.capture_rate} Hz, resampled)"
    return ring, source, heard


def run(ring: Ring, source: sources.Source, recognizer: Recognizer, sinks: Sequence[Sink], stop_at: int | None = None) -> Totals:
    """Hand every update of `steps` to each sink, then close them; the totals of the run."""
    totals = Totals(recognizer.sample_rate, time.perf_counter())
    try:
        for update in steps(ring, source, recognizer, totals, stop_at):
            for sink in sinks:
                sink.show(update)
    except KeyboardInterrupt:
        pass
    finally:
        for sink in sinks:
            sink.close()
    return totals


def steps(ring: Ring, source: sources.Source, recognizer: Recognizer, totals: Totals, stop_at: int | None = None) -> Iterator[Update]:
    """The loop: start `source`; take the audio waiting in the ring, at most `max_batch`
    windows' worth at a time (so a reader that fell behind reports and measures each batch),
    feed it to `recognizer` and yield what its windows decided, until the ring closes or
    `stop_at` samples are reached, or the CLI saw a Ctrl-C that never reached this loop as a
    KeyboardInterrupt (`livecmd.interrupts`); then stop the source. A reader that fell so far
    behind that audio was overwritten counts it as dropped and tells the recognizer of the gap.
    While the source waits for its microphone to come back (`lost`), an update without
    scores says so. Behind a wake word (the recognizer's gate) the detections are those it lets
    through, beside its own events. `totals` is kept up to date."""
    rate, hop = recognizer.sample_rate, recognizer.hop
    most = recognizer.engine.max_batch * hop
    chunk = np.empty(ring.capacity, dtype=np.float32)
    position = recognizer.position
    lost: str | None = None  # what the last update said of a lost microphone

    def update(scores: np.ndarray, level_db: float, detections: Sequence[Detection] = (), latencies_ms: Sequence[float] = ()) -> Update:
        """This pass's update; the stream's state as it stands."""
        return Update(scores=scores, level_db=level_db, stream_s=totals.samples / rate, detections=detections,
                      latencies_ms=latencies_ms, latency_ms=totals.latencies.recent(), dropped_s=ring.dropped / rate,
                      gain_db=recognizer.gain_db, narrowband=recognizer.narrowband, lost=lost)

    source.start()
    try:
        while not interrupts.pressed() and (stop_at is None or recognizer.next_end <= stop_at):
            if not ring.wait_for(max(position + 1, recognizer.next_end), timeout=0.1):
                if ring.closed:
                    break
                if source.lost != lost:  # the microphone went away (or came back before any window): say so now
                    lost = source.lost
                    yield update(np.zeros(len(recognizer.labels), dtype=np.float32), -100.0)
                continue
            held = ring.held()
            if position < held.oldest:  # fell behind: the audio overwritten meanwhile is given up
                ring.skip(held.oldest)
                recognizer.skip(held.oldest - position)
                position = held.oldest
            end = min(held.written, recognizer.next_end - hop + most, stop_at if stop_at is not None else held.written)
            read = ring.read(end, end - position, chunk[: end - position])
            if read is None:  # overwritten while we looked: the next round skips it
                continue
            ring.release(end)
            position = end
            scored = recognizer.score(read)
            totals.wall_s = time.perf_counter() - totals.started
            totals.dropped = ring.dropped
            if not len(scored.ends):
                continue
            now = time.perf_counter()
            totals.windows += len(scored.ends)
            totals.detections += len(scored.detections)
            totals.samples = int(scored.ends[-1])
            # The windows' last samples, then the detections': a detection's window may be an earlier
            # pass's (a wake word heard with slow speech, and a command that waited for it: `livecmd.stream.gate`).
            ends = np.concatenate([scored.ends, [d.end for d in scored.detections]]).astype(np.int64)
            latency = (now - ring.arrival_times(ends - 1)) * 1000.0
            totals.latencies.add(latency[: len(scored.ends)])
            lost = source.lost
            yield update(scored.scores[-1], _level_db(read[-hop:]), scored.detections, latency[len(scored.ends) :].tolist())
    finally:
        source.stop()
        totals.dropped = ring.dropped
        totals.wall_s = time.perf_counter() - totals.started


def _level_db(samples: np.ndarray) -> float:
    """RMS level in dBFS (0 = a full-scale square wave), floored at -100."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    return max(-100.0, 20.0 * np.log10(max(rms, 1e-5)))
