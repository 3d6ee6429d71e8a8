"""The Python API of the live recognizer: `Recognizer` turns audio into `Detection`s, and
`listen()` yields them from the microphone or a clip.

    import livecmd
    rec = livecmd.Recognizer()                     # the shipped speech model
    for chunk in my_audio_chunks():                # mono at rec.sample_rate, any size: float or int16
        for d in rec.feed(chunk):
            print(d.label, d.time, d.score)

`livecmd listen` is this same recognizer between a source (microphone, clip) and its sinks
(the live view, JSON lines), so a program gets the command line's decisions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
import soxr

from livecmd import audio
from livecmd.domains import QUIET_LABELS, get_domain
from livecmd.errors import LivecmdError
from livecmd.stream.band import BandMeter
from livecmd.stream.decide import DecideSettings, Decider, Detection, label_thresholds
from livecmd.stream.gate import OPEN_SECONDS, SHARED_SETTINGS, WakeGate, check_wake, commands_max_utterance_ms, wake_gate
from livecmd.stream.level import LevelControl
from livecmd.stream.slow_speech import SlowSpeech
from livecmd.stream.utterance import UtteranceMeter

__all__ = ["Detection", "Recognizer", "Scored", "listen"]


@dataclass(frozen=True)
class Scored:
    """What one `Recognizer.score` call did: the windows it scored, ending at `ends` (absolute
    sample indices, (windows,)), their smoothed scores (windows, labels), the detections, and
    how long a run of voice each window holds."""

    ends: np.ndarray
    scores: np.ndarray
    detections: list[Detection]
    utterances: np.ndarray  # (windows,) seconds: the longest run of voice in each (`livecmd.stream.utterance`)


class Recognizer:
    """Commands from a stream of audio: sliding windows, the model, smoothing and thresholds.

    `weights`: a .safetensors file (None: the shipped speech model). `threshold`: the smoothed
    score that fires a label (None: what the weights were tuned for, else 0.5); `thresholds`:
    `{label: score}` over it for some labels. `device`: auto, cpu or cuda. `engine`: auto, cached,
    folded or torch (`livecmd.stream.engine`); `auto` is `cached` on a CPU for SampleCNN, whose
    hop is rounded to a multiple of 81 samples (100 ms -> 101.25 ms). A window of the model's
    length ends every `hop_ms`; scores are averaged over `smooth_ms`; after an event no other
    fires for `refractory_ms` (per label for multi-label models); a label fires only once its
    smoothed score has stayed above its threshold for `hold_ms` (None: what the weights were tuned
    for, else 0: the first window above fires), and not while the run of voice it is part of has
    lasted longer than `max_utterance_ms` (None: what the weights were tuned for, else 0: any
    length; `livecmd.stream.utterance`: commands said alone). With `peak_ms` > 0 a multi-class
    model's event waits until no score has risen for that long and fires the label that peaked
    highest (0: the window that reaches the hold fires; None: what the weights were tuned with,
    the shipped model's 100, else 0; `livecmd.stream.decide`). `agc`: automatic gain control for
    a domain that has one (speech: soft audio brought up to the level the model knows;
    `livecmd.stream.level`). `only`: listen for these of the model's labels alone ("yes,stop"
    or a list; the others' scores count as `_unknown_`: an app that needs three words is not
    woken by the other seven). `precision`: the cached and folded engines' auto, bf16 or fp32.
    `slow_speech`: each window heard a second time as the 1.25 s that end with it, played 1.25
    times as fast, for phrases said slower than the window (`livecmd.stream.slow_speech`; None:
    what the weights were tuned with: `livecmd custom`'s words have it, the shipped model not);
    it takes a second engine and decides about 50 ms later.
    `threads`: torch's CPU threads, process-wide (None leaves torch's setting). Up to
    `max_batch` windows are scored in one pass. `input_rate`: the rate of the audio fed (None:
    the model's, `sample_rate`); audio at another rate (the 44.1 or 48 kHz of most sound cards,
    browsers and WebRTC) is resampled as it streams, by the streaming soxr resampler listen
    runs a microphone through; stream times and sample counts stay at `sample_rate`.

    `wake`: a wake word in front of the commands, as `listen --wake` (a shipped one's name,
    "smart mirror", or weights `livecmd custom` wrote; `livecmd.stream.gate`): its own model
    hears the same audio, fired at `wake_threshold` (None: its own); its events come out with
    `wake` True, and commands only in the `wake_s` seconds after one. The commands then have no
    look-back rule unless `max_utterance_ms` is given (a command may follow in the same breath).

    Not thread-safe: feed it from one thread.
    """

    def __init__(
        self, weights: str | Path | None = None, *, threshold: float | None = None, thresholds: Mapping[str, float] | None = None,
        device: str = "auto", engine: str = "auto", hop_ms: float = 100.0, smooth_ms: float = 300.0,
        refractory_ms: float = 1000.0, hold_ms: float | None = None, max_utterance_ms: float | None = None, peak_ms: float | None = None,
        agc: bool = True, only: str | Sequence[str] | None = None, precision: str = "auto", threads: int | None = None, max_batch: int = 16,
        slow_speech: bool | None = None,
        input_rate: int | None = None, wake: str | Path | None = None, wake_s: float = OPEN_SECONDS, wake_threshold: float | None = None,
    ):
        given = dict(locals())  # the arguments as passed: the wake word's model takes SHARED_SETTINGS of them
        import torch

        from livecmd import weights as weights_files
        from livecmd.compute import pick_device
        from livecmd.models import foldable
        from livecmd.stream.engine import choose_engine, describe, engine_hop, keep_heap, make_engine

        if not hop_ms > 0:
            raise LivecmdError(f"hop {hop_ms:g} ms: give a positive hop, e.g. 100")
        if not smooth_ms >= 0:
            raise LivecmdError(f"smoothing {smooth_ms:g} ms: give 0 (no smoothing) or more")
        if not refractory_ms >= 0:
            raise LivecmdError(f"refractory time {refractory_ms:g} ms: give 0 or more")
        if hold_ms is not None and not hold_ms >= 0:
            raise LivecmdError(f"hold {hold_ms:g} ms: give 0 (fire on the first window above the threshold) or more")
        if peak_ms is not None and not peak_ms >= 0:
            raise LivecmdError(f"peak wait {peak_ms:g} ms: give 0 (fire on the window that reaches the hold) or more, e.g. 100")
        if max_utterance_ms is not None and not max_utterance_ms >= 0:
            raise LivecmdError(f"longest utterance {max_utterance_ms:g} ms: give 0 (any length) or more, e.g. 800")
        if max_batch < 1:
            raise LivecmdError(f"max_batch {max_batch}: give 1 or more")
        if input_rate is not None and not (isinstance(input_rate, (int, np.integer)) and input_rate > 0):
            raise LivecmdError(f"input_rate {input_rate!r}: give the rate of the audio fed in Hz, e.g. 48000")
        if wake is not None:
            wake = check_wake(wake, wake_s)  # before the models load: a wrong name is said at once
            max_utterance_ms = commands_max_utterance_ms(max_utterance_ms)
        self.weights = Path(weights) if weights is not None else weights_files.shipped("speech")
        meta = weights_files.read_meta(self.weights)
        domain = get_domain(meta.domain)
        self.meta = meta
        self.sample_rate: int = meta.sample_rate
        self.input_rate: int = int(input_rate or meta.sample_rate)
        """The rate of the audio fed, resampled to `sample_rate` where the two differ."""
        self.window_samples: int = meta.input_samples
        if max_utterance_ms and domain.multi_label:
            raise LivecmdError(f"--max-utterance-ms is for spoken commands: a {domain.name} model tags sounds that go on; leave it out")
        self.device = pick_device(device)
        kind = choose_engine(engine, precision, foldable(meta.arch), self.device)
        hop = round(hop_ms * self.sample_rate / 1000)
        if not 0 < hop <= self.window_samples:
            raise LivecmdError(
                f"hop {hop_ms:g} ms: the hop must be between one sample and the model's window "
                f"({1000 * self.window_samples / self.sample_rate:g} ms)")
        model = weights_files.load(self.weights, self.device).model
        strides = model.strides() if hasattr(model, "strides") else ()
        self.hop: int = engine_hop(kind, hop, self.window_samples, strides)
        """Samples between consecutive windows' ends (the engine's, maybe rounded)."""

        # Scores are decided per command: a model's outputs that count as the same label (a
        # 31-class speech model's filler words, all `_unknown_`) are added up first.
        # With `only`, the outputs of the labels not listened for count as `_unknown_` too (or,
        # in a multi-label model, are dropped: None).
        counted: tuple[str | None, ...] = domain.counted_as(meta.labels)
        if only is not None:
            counted = domain.listened_for(counted, only)
        kept = tuple(label for label in dict.fromkeys((*meta.labels, *counted)) if label is not None and label in counted)
        if counted != meta.labels and set(kept) <= set(domain.test_labels):
            kept = tuple(label for label in domain.test_labels if label in kept)  # in the paper's order
        self.labels: tuple[str, ...] = kept
        """The labels decided on: the model's, or what they count as."""
        self._only = only is not None
        self._merge = None if counted == meta.labels else np.array(
            [[c == label for label in self.labels] for c in counted], dtype=np.float32)
        tuned = weights_files.listen_settings(meta, self.weights)
        kept = {label: value for label, value in tuned.label_thresholds.items() if label in self.labels and threshold is None}
        self.thresholds: tuple[float, ...] = label_thresholds(self.labels, tuned.threshold, threshold, {**kept, **(thresholds or {})})
        """The smoothed score that fires each of `labels`."""

        keep_heap()
        if threads is not None:
            torch.set_num_threads(threads)
        self.engine = make_engine(kind, model, self.device, domain.multi_label, self.window_samples,
                                  len(meta.labels), max_batch, self.hop, precision)
        self.engine.warm_up()
        self.slow_speech: SlowSpeech | None = None
        """The second, faster hearing of the windows, or None."""
        if tuned.slow_speech if slow_speech is None else slow_speech:
            self.slow_speech = SlowSpeech(
                lambda fast_hop: make_engine(kind, model, self.device, domain.multi_label, self.window_samples, len(meta.labels),
                                             max_batch, fast_hop, precision),
                self.window_samples, self.hop, self.sample_rate, max_batch)
        self.engine_name: str = f"{describe(self.device)}, {self.engine.name} engine"
        self._settings = DecideSettings(
            labels=self.labels, thresholds=self.thresholds,
            smooth_windows=max(1, round(smooth_ms * self.sample_rate / 1000 / self.hop)),
            refractory=round(refractory_ms * self.sample_rate / 1000),
            multi_label=domain.multi_label, sample_rate=self.sample_rate,
            hold_windows=1 + round((tuned.hold_ms if hold_ms is None else hold_ms) * self.sample_rate / 1000 / self.hop),
            max_utterance_s=(tuned.max_utterance_ms if max_utterance_ms is None else max_utterance_ms) / 1000,
            peak_windows=round((tuned.peak_ms if peak_ms is None else peak_ms) * self.sample_rate / 1000 / self.hop),
        )
        self._agc_dbfs = domain.agc_target_dbfs if agc else None
        self._max_batch = max_batch
        shared = {name: given[name] for name in SHARED_SETTINGS}
        self.gate: WakeGate | None = wake_gate(wake, self, wake_s, wake_threshold, shared) if wake is not None else None
        """The wake word's gate (its model: `gate.recognizer`), or None."""
        self.reset()

    def reset(self) -> None:
        """Start a new stream: forget the audio, the smoothing and the refractory times; the next
        sample fed is stream time 0."""
        self._decider = Decider(self._settings)
        self._meter = UtteranceMeter(self.sample_rate, self.window_samples)
        self._level = LevelControl(self._agc_dbfs, self.sample_rate) if self._agc_dbfs is not None else None
        self._band = BandMeter(self.sample_rate)
        if self.slow_speech is not None:
            self.slow_speech.reset(0)
        self._resampler = (soxr.ResampleStream(self.input_rate, self.sample_rate, 1, dtype="float32")
                           if self.input_rate != self.sample_rate else None)
        self._frames_from = 0  # the stream sample gain control counts its frames from (0, or the end of the last gap)
        self._samples = np.zeros(0, dtype=np.float32)  # stream samples from `_start` on, gained
        self._start = 0
        self._next_end = self.window_samples  # the end of the next window to score
        self.scores: np.ndarray = np.zeros(len(self.labels), dtype=np.float32)
        """The smoothed scores of the newest window, (labels,)."""
        if self.gate is not None:
            self.gate.reset()

    @property
    def position(self) -> int:
        """Samples of stream time fed (or skipped) so far."""
        return self._start + len(self._samples) + (self._level.pending if self._level else 0)

    @property
    def next_end(self) -> int:
        """The stream sample at which the next window is complete: feeding less scores nothing
        (with gain control, the end of the 10-ms frame that holds the window's last sample)."""
        end = self._next_end + (self.slow_speech.lag if self.slow_speech is not None else 0)
        if self._level is None:
            return end
        frame = self._level.frame
        return self._frames_from + -(-(end - self._frames_from) // frame) * frame

    @property
    def gain_db(self) -> float:
        """The gain control's gain on the newest audio, dB (0 without gain control)."""
        return self._level.gain_db if self._level else 0.0

    @property
    def narrowband(self) -> bool:
        """Whether the last 10 s came through a microphone that hears nothing above 4 kHz (a
        headset in its hands-free mode, a phone line): commands such as `yes` and `stop` are
        missed then (`livecmd.stream.band`)."""
        return self._band.narrowband

    def feed(self, samples: np.ndarray) -> list[Detection]:
        """Add `samples` (mono at `input_rate`, any length: floats in [-1, 1] or integer PCM such
        as int16; `livecmd.audio.samples`) to the stream and return the detections of the
        windows they completed, oldest first."""
        return self.score(samples).detections

    def score(self, samples: np.ndarray) -> Scored:
        """`feed`, with the windows scored on the way and their smoothed scores (the
        commands'; the detections are those the wake word's gate let through, if any)."""
        chunk = audio.samples(samples)
        return self._score(chunk if self._resampler is None else self._resampler.resample_chunk(chunk))

    def _score(self, chunk: np.ndarray) -> Scored:
        """`score` of float32 samples at `sample_rate`: the commands' model, then the wake word's
        gate, whose model hears the same samples (resampled once, here)."""
        self._meter.feed(chunk)  # the meter measures voice over its own noise floor: at any level
        self._band.feed(chunk)
        gained = self._level.process(chunk) if self._level else chunk
        self._samples = np.concatenate([self._samples, gained])
        length, hop = self.window_samples, self.hop
        count = max(0, (self._start + len(self._samples) - self._next_end) // hop + 1)
        ends = self._next_end + hop * np.arange(count, dtype=np.int64)
        if self.slow_speech is not None:  # a window waits for its faster hearing
            self.slow_speech.feed(gained)
            count = self.slow_speech.ready(ends)
            ends = ends[:count]
        parts, detections = [], []
        utterances = self._meter.lengths(ends)
        for at in range(0, count, self._max_batch):
            batch = ends[at : at + self._max_batch]
            scores = self.engine(audio.windows_ending(self._samples, self._start, batch, length, hop))
            if self.slow_speech is not None:
                scores = self.slow_speech.combine(batch, scores)
            if self._merge is not None:
                scores = scores @ self._merge
            smoothed, fired = self._decider.update(batch, scores, utterances[at : at + self._max_batch])
            parts.append(smoothed)
            detections += fired
        if count:
            self.scores = parts[-1][-1]
            self._next_end = int(ends[-1]) + hop
        self._forget(self._next_end - length)
        smoothed = np.concatenate(parts) if parts else np.zeros((0, len(self.labels)), dtype=np.float32)
        if self.gate is not None:
            detections = self.gate.admit(chunk, detections)
        return Scored(ends, smoothed, detections, utterances)

    def flush(self) -> list[Detection]:
        """The stream ended: feed the silence that lets its last word be heard whole (what a
        microphone would go on hearing) and return the detections that gives. The resampler, if
        any, hands over what it held back first."""
        tail = np.zeros(0, dtype=np.float32)
        if self._resampler is not None:
            tail = self._resampler.resample_chunk(tail, last=True)
            self._resampler.clear()
        return self._score(np.concatenate([tail, np.zeros(self.end_silence(self.position + len(tail)), dtype=np.float32)])).detections

    def end_silence(self, samples: int) -> int:
        """Samples of silence that, after a stream of `samples`, let its last word be heard
        whole: a window less a hop, so the last samples reach the last window's far end, or
        what a stream shorter than a window lacks to fill one (and a frame more for gain control,
        which holds back the last samples of a frame until it is whole, and the faster hearing's
        resampler's hold-back; the wake word's model's, if its is longer)."""
        own = (max(self.window_samples - self.hop, self.window_samples - samples) + (self._level.frame if self._level else 0)
               + (self.slow_speech.lag if self.slow_speech is not None else 0))
        return max(own, self.gate.recognizer.end_silence(samples)) if self.gate is not None else own

    def skip(self, samples: int) -> None:
        """`samples` of the stream (at `sample_rate`) were lost (a reader that fell behind): the
        windows that needed them are given up, and the next one is the first whole window after
        the gap, on the same grid of window ends."""
        gap_end = self.position + samples
        if self._resampler is not None:  # what it held back went with the gap
            self._resampler.clear()
        if self.gate is not None:
            self.gate.skip(samples)
        self._meter.skip(samples)
        self._band.skip()
        if self._level is not None:  # the samples waiting for the rest of their frame go with the gap
            self._level.skip()
            self._frames_from = gap_end
        self._samples = np.zeros(0, dtype=np.float32)
        self._start = gap_end
        if self.slow_speech is not None:
            self.slow_speech.reset(gap_end)
        if self._next_end - self.window_samples < gap_end:
            behind = gap_end - (self._next_end - self.window_samples)
            self._next_end += -(-behind // self.hop) * self.hop

    def _forget(self, keep_from: int) -> None:
        """Drop the samples before stream sample `keep_from`: no window still to come needs them."""
        drop = min(max(0, keep_from - self._start), len(self._samples))
        if drop:
            self._samples = self._samples[drop:]
            self._start += drop

    def decide(self, scored: Scored, threshold: float | None = None, hold_ms: float | None = None,
               thresholds: Mapping[str, float] | None = None, max_utterance_ms: float | None = None) -> list[Detection]:
        """The detections that the threshold `threshold` (one for every label; None: this
        recognizer's), `thresholds` ({label: score} over it), the hold `hold_ms` and the longest
        run of voice `max_utterance_ms` (None: this recognizer's) make of a whole stream already
        scored (`score` from `reset` on): smoothing does not depend on them, so a benchmark or a
        tuning sweeps them over one pass of the model. The commands' own events: a wake word's
        gate is not applied (`benchmarks/wake_gate.py` applies it per setting)."""
        settings = replace(self._settings, smooth_windows=1)  # `scored.scores` are smoothed already
        if threshold is not None or thresholds:
            own = dict(zip(self.labels, self.thresholds)) if threshold is None else {}
            settings = replace(settings, thresholds=label_thresholds(self.labels, every=threshold, per_label={**own, **(thresholds or {})}))
        if hold_ms is not None:
            settings = replace(settings, hold_windows=1 + round(hold_ms * self.sample_rate / 1000 / self.hop))
        if max_utterance_ms is not None:
            settings = replace(settings, max_utterance_s=max_utterance_ms / 1000)
        return Decider(settings).update(scored.ends, scored.scores, scored.utterances)[1]

    def describe(self) -> str:
        """The model as the live view names it: file, arch, domain, labels, window and hop, the
        longest run of voice a command may be part of when that rule is on, peak picking's wait
        when it is on, slow speech when on, and the wake word."""
        m, s = self.meta, self._settings
        peak = round(1000 * s.peak_windows * self.hop / self.sample_rate) if not s.multi_label else 0
        return (f"{self.weights.name} ({m.arch}, {m.domain}, {len(m.labels)} labels, "
                f"{self.window_samples / self.sample_rate:g} s windows every {1000 * self.hop / self.sample_rate:g} ms"
                + (f"; listening for {', '.join(label for label in self.labels if label not in QUIET_LABELS)} only" if self._only else "")
                + (f"; commands said alone: none inside {s.max_utterance_s:g} s of voice" if s.max_utterance_s else "")
                + (f"; each fired at its peak (after {peak} ms without a rise)" if peak else "")
                + ("; slow speech heard too" if self.slow_speech is not None else "") + ")"
                + (self.gate.describe() if self.gate is not None else ""))


def listen(input: str | Path | None = None, weights: str | Path | None = None, *, realtime: bool | None = None,
           mic: str | None = None, reconnect: bool = False, wake: str | Path | None = None, wake_s: float = OPEN_SECONDS,
           wake_threshold: float | None = None, **options) -> Iterator[Detection]:
    """Detections as they happen, from the microphone (`input` None; `mic`: an input device's
    index or part of its name, None for the default) or a clip (`input`: any file soundfile
    decodes). A clip is read as fast as the model scores it, or at its own pace with
    `realtime=True`; it is followed by a window of silence, as a microphone would go on
    hearing the room, so its last word is heard whole. Other keyword options are the
    `Recognizer`'s (threshold, device, engine, hop_ms, ...). Stops at the clip's end; from a
    microphone, when the loop that iterates stops (break, Ctrl-C) or the device fails; with
    `reconnect`, a microphone that goes away is waited for instead. With a wake word (`wake`: a
    shipped one's name, "smart mirror", or its weights; fired at `wake_threshold`, None: its
    own), commands are yielded only in the `wake_s` seconds after it, and its own events too,
    with `wake` True (`livecmd.stream.gate`); the commands then have no look-back rule unless
    `max_utterance_ms` is given."""
    from livecmd.stream import listen as live

    if input is not None and mic is not None:
        raise LivecmdError("listen to a clip (input) or a microphone (mic), not both")
    if input is not None and reconnect:
        raise LivecmdError("reconnect waits for a microphone that goes away: a clip (input) does not")
    if "input_rate" in options:
        raise LivecmdError("input_rate is the rate of the audio you feed a Recognizer: listen resamples a clip or a microphone itself")
    recognizer, ring, source, _ = live.start(input, weights, options, mic=mic, reconnect=reconnect, realtime=bool(realtime),
                                             wake=wake, wake_s=wake_s, wake_threshold=wake_threshold)
    for step in live.steps(ring, source, recognizer, live.Totals(recognizer.sample_rate, time.perf_counter())):
        yield from step.detections
    if source.failure is not None:
        raise LivecmdError(source.failure)
