"""Slow speech: each window heard a second time as the 1.25 s of audio that end with it, played
1.25 times as fast, so that a phrase said slower than the model's 1-s window fits in it.

Why: people say a custom phrase about a quarter slower than the TTS voices that trained it, and
the real recordings `custom` models miss are mostly the long ones (docs/custom-words.md, "The
words missed are the long ones"). Played faster (and a third of an octave higher, within the
voices' spread of pitch), a 1.25-s phrase fills the window. A label's score is the higher of
the two hearings, but the faster one counts only where the window's own score for that label is
over `GATE`: taken alone, sped-up talk about doubled the false events on talk. Measured on three
synthetic-only models of "smart mirror", "snowboy" and "view glass": 3-14 more of 285 real
recordings found at one setting, with the same false events on talk and music; re-tuned with it,
231, 244 and 232 found against 224, 248 and 226 (docs/custom-words.md, "Slow speech").

The faster hearing is a second engine over the stream resampled to 4/5 of its rate (streaming
soxr), its windows ending where the recognizer's do: the window that ends at stream sample E is
heard with the one that ends at resampled sample (E - origin) * 4/5 (origin: where the stream,
or the audio after a gap, starts). A window that starts before 1.25 s of stream has no faster
partner and keeps its own scores.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import soxr

from livecmd import audio
from livecmd.errors import LivecmdError

SPEED = (5, 4)
"""How much faster the second hearing plays the audio, as a fraction: 1.25 (1.15 found fewer)."""
GATE = 0.3
"""The window's own score for a label over which the faster hearing may raise it."""


class SlowSpeech:
    """The faster hearing of a recognizer's windows (`window` samples every `hop`, at `rate`),
    scored by the engine `make_engine(fast_hop)` makes for windows `fast_hop` = `hop` * 4/5
    apart ((batch, window) float32 -> (batch, labels), `livecmd.stream.engine`)."""

    def __init__(self, make_engine: Callable[[int], Any], window: int, hop: int, rate: int, max_batch: int):
        up, down = SPEED
        if hop % up or window % up:
            raise LivecmdError(f"slow speech needs a hop of a multiple of {up} samples: {hop} is not; give --hop-ms 100 or 50, "
                               "or --no-slow-speech")
        self.window, self.hop, self.rate, self.max_batch = window, hop, rate, max_batch
        self.fast_hop = hop * down // up  # on the cached engine's grid too: 5k of its steps (a power of 3) give 4k
        self.engine = make_engine(self.fast_hop)
        self.engine.warm_up()
        self.lag = self._lag()
        """Stream samples the resampler holds back: a window's faster partner is complete that much later."""
        self.reset(0)

    def _lag(self) -> int:
        """The resampler's hold-back, measured (soxr's high quality: 482 samples at 12.8 kHz)."""
        up, down = SPEED
        probe = self.rate
        held = probe * down // up - len(self._resampler_new().resample_chunk(np.zeros(probe, dtype=np.float32)))
        return -(-held * up // down)

    def _resampler_new(self) -> soxr.ResampleStream:
        up, down = SPEED
        return soxr.ResampleStream(self.rate, self.rate * down / up, 1, dtype="float32")

    def reset(self, origin: int) -> None:
        """The stream starts (again, after a gap) at stream sample `origin`: the faster hearing
        starts at the first sample from there that keeps its windows' ends on the grid."""
        up, down = SPEED
        self.origin = origin + (-origin) % up  # window and hop are multiples of `up`, so the ends are too
        self._drop = self.origin - origin
        self._resampler = self._resampler_new()
        self._samples = np.zeros(0, dtype=np.float32)  # resampled samples from `_start` on
        self._start = 0
        # the first resampled end that meets a window end (ends = window + k * hop, from 0)
        first = (self.window - self.origin) * down // up % self.fast_hop
        self._next = first + -(-(self.window - first) // self.fast_hop) * self.fast_hop
        self.first_end = self.origin + self._next * up // down
        """The first window end (stream samples) with a faster partner."""
        self.scores: dict[int, np.ndarray] = {}
        """Faster hearings not yet combined: window end (stream samples) -> scores."""

    @property
    def heard_until(self) -> int:
        """The last window end whose faster partner is in `scores` (or before the first)."""
        up, down = SPEED
        return self.origin + (self._next - self.fast_hop) * up // down

    def feed(self, samples: np.ndarray) -> None:
        """The recognizer's gained samples, following the last ones fed: resampled, and the
        faster windows they complete scored."""
        drop = min(self._drop, len(samples))
        self._drop -= drop
        up, down = SPEED
        self._samples = np.concatenate([self._samples, self._resampler.resample_chunk(samples[drop:])])
        count = max(0, (self._start + len(self._samples) - self._next) // self.fast_hop + 1)
        ends = self._next + self.fast_hop * np.arange(count, dtype=np.int64)
        for at in range(0, count, self.max_batch):
            batch = ends[at : at + self.max_batch]
            scores = self.engine(audio.windows_ending(self._samples, self._start, batch, self.window, self.fast_hop))
            self.scores.update(zip((self.origin + batch * up // down).tolist(), scores))
        if count:
            self._next = int(ends[-1]) + self.fast_hop
        drop = min(max(0, self._next - self.window - self._start), len(self._samples))
        self._samples, self._start = self._samples[drop:], self._start + drop

    def ready(self, ends: np.ndarray) -> int:
        """How many of the window `ends` (ascending) can be decided: those without a faster
        partner, and those whose partner is heard."""
        return int(np.count_nonzero((ends < self.first_end) | (ends <= self.heard_until)))

    def combine(self, ends: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """The windows' (ends, scores (windows, labels)) with the faster hearing's: per label the
        higher of the two where the window's own is over `GATE`."""
        out = scores.copy()
        for i, end in enumerate(ends.tolist()):
            fast = self.scores.pop(end, None)
            if fast is not None:
                out[i] = np.where(scores[i] > GATE, np.maximum(scores[i], fast), scores[i])
        return out
