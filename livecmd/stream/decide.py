"""From window scores to detection events: smoothing, thresholds, refractory time.

A label fires when its smoothed score has been at or above its threshold for `hold_windows`
windows in a row since it was last below (a rising edge, held: it must fall below again before
it can fire again) and its refractory time has passed. Holding costs a hop of latency per extra
window and keeps brief peaks (a note of music that sounds like "up" for one window) silent. For a multi-class model
(speech: one word at a time) one event per window at most, and the refractory time is shared
by all labels, so a word whose score wavers between two labels still gives one event. For a
multi-label model (scene events, music tags) each label fires on its own. `_silence_` and
`_unknown_` never fire: they mean "no command".

Peak picking (multi-class models, `peak_windows` > 0): a label that holds opens an event instead
of firing at once; the event fires once the best held label's smoothed score has not risen (by
`PEAK_RISE`) for `peak_windows` windows, as the label that peaked highest, with its peak score.
The first label over its threshold is not always the word's (a "no" may cross as `go` a
hop before its `no` peaks higher), and the refractory time would then silence the right one. A run
above the threshold that holds while the refractory time of the event before runs on opens
its event when that time is over (once per run: it must fall below before it fires again), since
waiting for the peak moves each event, and its refractory time, later. Measured on the held-out
stream at the shipped defaults: 2 more of its 94 commands found, no more false events
(docs/performance.md, "Peak picking"). It costs `peak_windows` hops of latency, more while a
score rises. Weights carry their wait (`livecmd.weights.ListenSettings.peak_ms`): the shipped
speech model's is 100 ms, one hop; weights without one fire at the hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from livecmd.domains import QUIET_LABELS
from livecmd.errors import LivecmdError

DEFAULT_THRESHOLD = 0.5  # for weights that carry no tuned threshold of their own
PEAK_RISE = 0.01  # a smaller rise of the same label's score is a plateau: a saturated score does not hold its event open


@dataclass(frozen=True)
class Detection:
    """One event: `label` fired. `time` is in seconds of stream time (0 = the stream's first
    sample): the end of the window whose smoothed score crossed the threshold, i.e. the moment
    in the audio by which the word had been heard. `score` is that smoothed score in [0, 1];
    `end` the same moment as an exact sample index. `wake`: a wake word's event
    (`livecmd.stream.gate`), not a command."""

    label: str
    time: float
    score: float
    end: int
    wake: bool = False


@dataclass(frozen=True)
class DecideSettings:
    labels: tuple[str, ...]
    thresholds: tuple[float, ...]  # one per label, in (0, 1]
    smooth_windows: int  # scores averaged over this many consecutive windows
    refractory: int  # samples after an event during which no other (multi-class) event fires
    multi_label: bool
    sample_rate: int  # Hz, to turn sample indices into seconds
    hold_windows: int = 1  # windows in a row the smoothed score must stay at or above the threshold
    max_utterance_s: float = 0.0  # a window within a longer run of voice fires nothing (0: any length; `utterance`)
    peak_windows: int = 0  # multi-class: fire the highest peak once no score has risen for this many windows (0: at the hold)


def label_thresholds(
    labels: tuple[str, ...], default: float = DEFAULT_THRESHOLD, every: float | None = None,
    per_label: Mapping[str, float] | None = None,
) -> tuple[float, ...]:
    """One threshold per label: `every` (else `default`) for all labels, then `per_label`
    ({label: score}) over it. A user error for an unknown label or a score outside (0, 1]."""
    thresholds = dict.fromkeys(labels, default if every is None else every)
    for label, value in (per_label or {}).items():
        if label not in thresholds:
            raise LivecmdError(f"threshold {label}={value}: the model has no label {label!r} ({', '.join(labels)})")
        thresholds[label] = value
    for label, value in thresholds.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
            raise LivecmdError(f"threshold {value!r} for {label!r}: give a score in (0, 1], as 0.6")
    return tuple(float(thresholds[label]) for label in labels)


class Decider:
    """Turns scores of successive windows into detections; keeps the state that needs: the last
    few scores (smoothing), how long each label has been at or above its threshold, when each
    last fired."""

    def __init__(self, settings: DecideSettings):
        n = len(settings.labels)
        self.settings = settings
        self._recent = np.zeros((max(1, settings.smooth_windows), n), dtype=np.float32)
        self._count = 0
        self._thresholds = np.asarray(settings.thresholds, dtype=np.float32)
        self._can_fire = np.array([label not in QUIET_LABELS for label in settings.labels])
        self._run = np.zeros(n, dtype=np.int64)  # windows in a row at or above the threshold
        self._last = np.full(n, np.iinfo(np.int64).min // 2, dtype=np.int64)  # sample of each label's last event
        self._spent = np.zeros(n, dtype=bool)  # peak picking: the label fired in its current run above the threshold
        self._peak: tuple[int, float] | None = None  # peak picking: the open event's best label and score so far
        self._since_peak = 0  # windows since that score last rose

    def update(self, ends: np.ndarray, scores: np.ndarray, utterance_s: np.ndarray | None = None) -> tuple[np.ndarray, list[Detection]]:
        """Feed windows ending at `ends` (batch,) with scores (batch, labels), in stream order,
        and the longest run of voice in each (batch,) seconds (`utterance.UtteranceMeter`; needed
        when `max_utterance_s` is set). Returns the smoothed scores (batch, labels) and the
        detections they caused."""
        s = self.settings
        smoothed = np.empty_like(scores, dtype=np.float32)
        detections = []
        for i, end in enumerate(np.asarray(ends, dtype=np.int64)):
            self._recent[self._count % len(self._recent)] = scores[i]
            self._count += 1
            row = self._recent[: min(self._count, len(self._recent))].mean(axis=0)
            smoothed[i] = row
            above = row >= self._thresholds
            if s.max_utterance_s and utterance_s is not None and utterance_s[i] > s.max_utterance_s:
                above[:] = False  # part of talk that runs on, not a command said alone
            self._run = np.where(above, self._run + 1, 0)
            rested = end - (self._last if s.multi_label else self._last.max()) >= s.refractory
            fire = (self._run == max(1, s.hold_windows)) & self._can_fire & rested
            if not s.multi_label and s.peak_windows:
                fire = self._pick_peak(row, rested)
            elif not s.multi_label and fire.any():
                fire = np.arange(len(row)) == np.argmax(np.where(fire, row, -1.0))
            for j in np.flatnonzero(fire):
                self._last[j] = end
                score = row[j] if self._peak is None else self._peak[1]
                self._peak, self._spent[j] = None, True
                detections.append(Detection(s.labels[j], float(end) / s.sample_rate, float(score), int(end)))
        return smoothed, detections

    def _pick_peak(self, row: np.ndarray, rested: bool) -> np.ndarray:
        """Peak picking for one window (after `_run` is updated): which label fires now, none or
        the open event's best once its score has not risen for `peak_windows` windows."""
        held = (self._run >= max(1, self.settings.hold_windows)) & self._can_fire
        self._spent &= self._run > 0  # a label that fell below may fire again
        if self._peak is None:
            opens = held & ~self._spent
            if not (rested and opens.any()):
                return np.zeros(len(row), dtype=bool)
            j = int(np.argmax(np.where(opens, row, -1.0)))
            self._peak, self._since_peak = (j, float(row[j])), 0
        else:
            j = int(np.argmax(np.where(held, row, -1.0)))
            if held.any() and row[j] > self._peak[1]:
                rose = j != self._peak[0] or row[j] > self._peak[1] + PEAK_RISE
                self._peak, self._since_peak = (j, float(row[j])), 0 if rose else self._since_peak + 1
            else:
                self._since_peak += 1
        return np.arange(len(row)) == (self._peak[0] if self._since_peak >= self.settings.peak_windows else -1)
