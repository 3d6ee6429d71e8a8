"""How long the voice around each window has been going on: commands are said alone, talk runs on.

A word said as a command stands between pauses and lasts well under a second; the same word
inside a sentence is part of a run of voice that goes on for seconds. The model sees one second
and cannot always tell the two apart, so listen can require that the runs of sound a window
holds be short (`Decider`'s `max_utterance_s`). The measure is plain energy: 10-ms frames more
than `ABOVE_FLOOR_DB` above the noise floor of the last `FLOOR_S` seconds (the 10th percentile
of its frames that hold a signal, never below `QUIETEST_DB`), with gaps of up to `GAP_MS`
bridged (the pauses between a sentence's words; a shorter bridge left talk's runs short). It looks only back in time, so it adds no
latency. Measured in docs/performance.md ("Commands said alone").
"""

from __future__ import annotations

import numpy as np

from livecmd.audio import NO_SIGNAL_DBFS, frame_db

FRAME_MS = 10
ABOVE_FLOOR_DB = 15.0
FLOOR_S = 5.0
QUIETEST_DB = -80.0  # dBFS: a floor below this (a nearly silent recording) is taken as this
GAP_MS = 150


class UtteranceMeter:
    """Fed the stream's samples in order; `lengths(ends)` gives, for windows ending at those
    stream samples, the longest run of voice overlapping each window's `window` samples."""

    def __init__(self, sample_rate: int, window: int):
        self.frame = sample_rate * FRAME_MS // 1000
        self._window_frames = max(1, window // self.frame)
        self._keep = int(FLOOR_S * 1000 / FRAME_MS) + self._window_frames
        self._gap = GAP_MS // FRAME_MS
        self._db = np.zeros(0, dtype=np.float32)  # frame levels from frame `_first` on
        self._first = 0
        self._rest = np.zeros(0, dtype=np.float32)  # samples of the next, incomplete frame
        self._position = 0  # stream samples fed or skipped

    def feed(self, samples: np.ndarray) -> None:
        """Add the next samples. What came `FLOOR_S` and a window before them is forgotten; all
        of them are kept until the next feed, so a long chunk's windows all find their past."""
        drop = max(0, len(self._db) - self._keep)
        self._db, self._first = self._db[drop:], self._first + drop
        self._position += len(samples)
        joined = np.concatenate([self._rest, samples])
        whole = len(joined) // self.frame * self.frame
        self._rest = joined[whole:]
        self._db = np.concatenate([self._db, frame_db(joined[:whole].reshape(-1, self.frame))])

    def skip(self, samples: int) -> None:
        """Samples lost: what was heard before them no longer borders what comes after."""
        self._position += samples
        self._first = self._position // self.frame
        self._db = np.zeros(0, dtype=np.float32)
        self._rest = np.zeros(self._position % self.frame, dtype=np.float32)  # frames stay on the stream's grid

    def lengths(self, ends: np.ndarray) -> np.ndarray:
        """Seconds, (windows,): for each window ending at stream sample `end`, the longest run of
        voice that overlaps the window, counted from its start (up to `FLOOR_S` back) to the
        window's end."""
        return np.array([self._length(int(end) // self.frame - self._first) for end in ends], dtype=np.float32)

    def _length(self, stop: int) -> float:
        level = self._db[max(0, stop - self._keep) : max(0, stop)]
        if len(level) == 0:
            return 0.0
        heard = level[level >= NO_SIGNAL_DBFS]  # digital silence has no floor: the hum after it is no voice
        floor = max(float(np.percentile(heard, 10)), QUIETEST_DB) if len(heard) else QUIETEST_DB
        voice = level > floor + ABOVE_FLOOR_DB
        on = np.flatnonzero(voice)
        if len(on) == 0:
            return 0.0
        bridged = np.diff(on) <= self._gap + 1  # a gap of up to `_gap` frames joins two runs
        starts = on[np.r_[True, ~bridged]]
        stops = on[np.r_[~bridged, True]] + 1
        overlapping = stops > len(level) - self._window_frames
        return float((stops - starts)[overlapping].max(initial=0)) * FRAME_MS / 1000
