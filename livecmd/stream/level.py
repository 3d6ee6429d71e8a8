"""Automatic gain control: a quiet microphone's audio brought up to the level the model knows.

A raw-waveform network is not level-invariant: the shipped speech model, trained on Speech
Commands clips (their loudest 10-ms frames at -13 dBFS at the median) played at most 12 dB
softer, finds 84% of the held-out stream's commands at its recorded level, 74% 10 dB softer,
39% 20 dB softer and 4% 30 dB softer (a microphone across the room, or one whose input gain is
low; `benchmarks/quiet_microphone.py`). Training it on softer copies made it fire more on soft
music and noise at the usual level; bringing soft audio up before the model does not.

The gain is set per 10-ms frame from the last `MEMORY_S` seconds of frames, this one included:
at most the gain that brings the loudest of them to `target_dbfs`, and at most the gain that
brings their noise floor (the 10th percentile of their levels, digital silence left out) to
`FLOOR_BELOW_DB` under it; never below 0 dB (loud audio is left as it is) nor above
`MAX_GAIN_DB`. So a frame never comes out louder than the target, a word's own loud frames set
its gain at once, the words of one speaker share a gain while they come less than `MEMORY_S`
apart, and in a pause only a quiet microphone's floor is raised: a microphone that merely hears
a quiet room keeps its level, so the first word after the pause is not heard over a hum pumped
up before it. A gain rises by at most `RISE_DB_PER_S`. Only whole frames are processed: at most
one frame (10 ms) of the stream waits for the rest of its samples. The gain depends on the
stream alone, never on how it was cut into chunks.
"""

from __future__ import annotations

import warnings

import numpy as np

from livecmd.audio import NO_SIGNAL_DBFS, frame_db

FRAME = 160  # samples at 16 kHz: 10 ms
MEMORY_S = 10.0
MAX_GAIN_DB = 30.0
FLOOR_BELOW_DB = 34.0  # the noise floor is raised to at most target - this: -45 dBFS, about the demo clip's and the stream's own
FLOOR_PERCENTILE = 10.0
BLOCK_FRAMES = 2048
RISE_DB_PER_S = 10.0


class LevelControl:
    """Stateful: feed a stream's samples in order, get them back gained, a whole frame at a time."""

    def __init__(self, target_dbfs: float, sample_rate: int = 16_000):
        self.target_dbfs = target_dbfs
        self.frame = round(FRAME * sample_rate / 16_000)
        self.memory = round(MEMORY_S * sample_rate / self.frame)  # frames
        self.rise = RISE_DB_PER_S * self.frame / sample_rate  # dB a frame
        self._pending = np.zeros(0, dtype=np.float32)
        self._levels = np.zeros(0, dtype=np.float32)  # the last `memory - 1` frames' levels, dBFS
        self._gain_db = MAX_GAIN_DB  # open at the start: the first word of a quiet microphone is heard

    @property
    def gain_db(self) -> float:
        """The gain of the newest frame processed, dB (0 before any)."""
        return self._gain_db if len(self._levels) else 0.0

    @property
    def pending(self) -> int:
        """Samples fed that wait for the rest of their frame."""
        return len(self._pending)

    def process(self, samples: np.ndarray) -> np.ndarray:
        """The samples of the frames that `samples` completes, gained; the rest waits."""
        audio = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        count = len(audio) // self.frame
        self._pending = audio[count * self.frame :]
        if not count:
            return np.zeros(0, dtype=np.float32)
        frames = audio[: count * self.frame].reshape(count, self.frame)
        known = np.concatenate([self._levels, frame_db(frames)])
        wanted = self._wanted(known, count)
        # a gain falls at once and rises by `rise` a frame at most: g[k] = min(wanted[k], g[k-1] + rise)
        steps = self.rise * np.arange(1, count + 1)
        gains = np.minimum(np.minimum.accumulate(wanted - steps) + steps, self._gain_db + steps)
        self._gain_db = float(gains[-1])
        self._levels = known[1 - self.memory :]
        out = frames * (10 ** (gains / 20)).astype(np.float32)[:, None]
        return np.clip(out, -1.0, 1.0).reshape(-1)

    def _wanted(self, known: np.ndarray, count: int) -> np.ndarray:
        """The gain (dB, before the rise limit) that each of the last `count` frames of `known`
        asks for, from its last `memory` frames (itself included; fewer at the stream's start)."""
        padded = np.concatenate([np.full(self.memory - 1, np.nan, dtype=np.float32), known])[-(count + self.memory - 1) :]
        wanted = np.empty(count, dtype=np.float32)
        for at in range(0, count, BLOCK_FRAMES):  # blocks: an hour of frames at once would need gigabytes
            rows = min(BLOCK_FRAMES, count - at)
            recent = np.lib.stride_tricks.sliding_window_view(padded[at : at + rows + self.memory - 1], self.memory)
            loudest = np.nanmax(recent, axis=1)
            unheard = ~(recent >= NO_SIGNAL_DBFS)  # the stream's first seconds (NaN) and digital silence
            if unheard.any():
                with warnings.catch_warnings():  # a row of nothing but silence has no floor: its loudest stands in
                    warnings.simplefilter("ignore", RuntimeWarning)
                    floor = np.nanpercentile(np.where(unheard, np.nan, recent), FLOOR_PERCENTILE, axis=1)
                floor = np.where(np.isnan(floor), loudest, floor)
            else:
                floor = np.percentile(recent, FLOOR_PERCENTILE, axis=1)
            wanted[at : at + rows] = np.minimum(self.target_dbfs - loudest, self.target_dbfs - FLOOR_BELOW_DB - floor)
        return np.clip(wanted, 0.0, MAX_GAIN_DB)

    def skip(self) -> None:
        """Samples were lost: the frame that waited is dropped with them (its level unknown)."""
        self._pending = np.zeros(0, dtype=np.float32)
