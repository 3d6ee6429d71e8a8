"""The ring buffer between an audio source and the reader that feeds the recognizer.

Positions are absolute sample indices: sample `i` is the i-th sample since the stream started,
however often the ring has wrapped since. The source writes (from PortAudio's audio thread or
the file reader's thread); the reader takes the samples written since its last read. When the
reader falls more than the capacity behind, the writer overwrites the oldest audio (never
refuses the newest) and counts the samples that no window had read as dropped.
"""

from __future__ import annotations

import threading
import time
from typing import NamedTuple

import numpy as np

_STAMPS = 4096
"""Recent writes whose arrival times are kept (4096 blocks of 20 ms: 80 s of history)."""


class Held(NamedTuple):
    """The samples a ring holds: absolute indices [oldest, written)."""

    written: int
    oldest: int


class Ring:
    """A fixed array of `capacity` float32 samples, written in blocks and read as windows.

    Writes copy into the preallocated array in at most two slices under a short lock and
    allocate no buffer, so the audio callback can call `write` directly. Three counters tell where things stand:
    `written` (samples written so far), `dropped` (samples lost before any window read them)
    and the reader's `release` mark (samples it no longer needs; a writer that must not drop,
    the file source in fast mode, waits for room behind it).
    """

    def __init__(self, capacity: int):
        if capacity <= 0:
            raise ValueError(f"ring capacity must be positive, not {capacity}")
        self.capacity = capacity
        self._buffer = np.zeros(capacity, dtype=np.float32)
        self._written = 0
        self._accounted = 0  # samples before this were either read by a window or counted as dropped
        self._keep_from = 0  # the reader still needs samples from here on
        self._dropped = 0
        self._closed = False
        self._changed = threading.Condition(threading.Lock())
        # When each recent write ended: (written after it, time.perf_counter()), in a circle.
        self._stamp_ends = np.zeros(_STAMPS, dtype=np.int64)
        self._stamp_times = np.zeros(_STAMPS, dtype=np.float64)
        self._stamps = 0

    @property
    def written(self) -> int:
        """Samples written so far."""
        return self._written

    def held(self) -> Held:
        """What the ring holds now, both ends read under the lock: between two separate reads
        the writer may move on, and a reader would see an `oldest` past its `written`."""
        with self._changed:
            return Held(self._written, max(0, self._written - self.capacity))

    @property
    def dropped(self) -> int:
        """Samples overwritten or skipped before any window read them."""
        return self._dropped

    @property
    def closed(self) -> bool:
        """True once the source said no more audio will come (end of file)."""
        return self._closed

    def write(self, block: np.ndarray) -> None:
        """Append `block` (samples,) float32, overwriting the oldest samples when full."""
        n = len(block)
        if n == 0:
            return
        now = time.perf_counter()
        with self._changed:
            end = self._written + n
            lost = end - self.capacity  # every sample before this is gone after the write
            if lost > self._accounted:
                self._dropped += lost - self._accounted
                self._accounted = lost
            kept = min(n, self.capacity)  # a block longer than the ring keeps only its tail
            at = (end - kept) % self.capacity
            first = min(kept, self.capacity - at)
            self._buffer[at : at + first] = block[n - kept : n - kept + first]
            self._buffer[: kept - first] = block[n - kept + first :]
            self._written = end
            slot = self._stamps % _STAMPS
            self._stamp_ends[slot] = end
            self._stamp_times[slot] = now
            self._stamps += 1
            self._changed.notify_all()

    def lose(self, samples: int) -> None:
        """`samples` never reached the ring (the audio driver discarded them): count them as
        dropped. Stream positions do not move: the ring holds only what arrived."""
        with self._changed:
            self._dropped += max(0, samples)

    def read(self, end: int, length: int, out: np.ndarray | None = None) -> np.ndarray | None:
        """The window of samples [end - length, end) as float32 (length,), copied into `out`
        when given; None when part of it is no longer held (overwritten because the reader
        fell behind, or before the stream's start)."""
        window = np.empty(length, dtype=np.float32) if out is None else out
        with self._changed:
            if end > self._written:
                raise ValueError(f"window ending at sample {end} is not written yet ({self._written} written)")
            start = end - length
            if start < self._written - self.capacity:
                return None
            at = start % self.capacity
            first = min(length, self.capacity - at)
            window[:first] = self._buffer[at : at + first]
            window[first:] = self._buffer[: length - first]
            self._accounted = max(self._accounted, end)
        return window

    def skip(self, to: int) -> None:
        """The reader gives up on samples before `to` (it jumps ahead): those no window read
        are counted as dropped."""
        with self._changed:
            to = min(to, self._written)
            if to > self._accounted:
                self._dropped += to - self._accounted
                self._accounted = to

    def release(self, keep_from: int) -> None:
        """The reader needs no sample before `keep_from` any more: room for a waiting writer."""
        with self._changed:
            self._keep_from = max(self._keep_from, keep_from)
            self._changed.notify_all()

    def room(self, timeout: float) -> int:
        """How many samples can be written without overwriting any the reader still needs;
        waits up to `timeout` seconds for some room (0 when there is still none)."""
        with self._changed:
            self._changed.wait_for(lambda: self._keep_from + self.capacity > self._written, timeout)
            return max(0, self._keep_from + self.capacity - self._written)

    def wait_for(self, sample: int, timeout: float) -> bool:
        """Wait up to `timeout` seconds until `sample` samples are written (or the source
        closed); True when they are."""
        with self._changed:
            self._changed.wait_for(lambda: self._written >= sample or self._closed, timeout)
            return self._written >= sample

    def close(self) -> None:
        """The source has no more audio: wake the reader so it can finish."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def arrival_times(self, samples: np.ndarray) -> np.ndarray:
        """`time.perf_counter()` at which each absolute sample index in `samples` was written
        (the end of the write that brought it); NaN when it is older than the kept history."""
        with self._changed:
            count = min(self._stamps, _STAMPS)
            order = np.arange(self._stamps - count, self._stamps) % _STAMPS
            ends = self._stamp_ends[order]
            times = self._stamp_times[order]
            complete = self._stamps <= _STAMPS  # the very first write is still in the history
        index = np.searchsorted(ends, np.asarray(samples), side="right")
        known = index < count
        if not complete:
            known &= index > 0  # before the oldest kept write: which write brought it is unknown
        out = np.full(len(index), np.nan)
        out[known] = times[index[known]]
        return out
