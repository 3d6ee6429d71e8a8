"""The ring buffer, the window schedule and the file source, alone, with generated audio."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from livecmd.stream.ring import Ring
from livecmd.stream.sources import FileSource
from tests.tones import RATE, stream


def _ramp(start: int, stop: int) -> np.ndarray:
    """Samples whose values are their own absolute indices (exact in float32 below 2**24)."""
    return np.arange(start, stop, dtype=np.float32)


def test_ring_buffer_drops_oldest_when_full_and_counts_it() -> None:
    ring = Ring(1000)
    ring.write(_ramp(0, 600))
    ring.write(_ramp(600, 2500))  # longer than the ring: only its newest 1000 samples stay
    assert (*ring.held(), ring.dropped) == (2500, 1500, 1500)
    np.testing.assert_array_equal(ring.read(2500, 1000), _ramp(1500, 2500))  # the newest survive
    assert ring.read(1600, 200) is None  # its first 100 samples were overwritten


def test_writes_that_wrap_read_back_exactly() -> None:
    ring, rng, written = Ring(997), np.random.default_rng(0), 0
    for _ in range(200):
        n = int(rng.integers(1, 400))
        ring.write(_ramp(written, written + n))
        written += n
        length = int(rng.integers(1, min(written, 997) + 1))
        np.testing.assert_array_equal(ring.read(written, length), _ramp(written - length, written))


def test_audio_already_read_is_not_counted_when_overwritten() -> None:
    ring = Ring(1000)
    for end in range(100, 5001, 100):
        ring.write(_ramp(end - 100, end))
        if end >= 500:
            assert ring.read(end, 500) is not None
    assert ring.dropped == 0


def test_skipping_ahead_counts_the_audio_no_window_read() -> None:
    ring = Ring(1000)
    ring.write(_ramp(0, 800))
    ring.read(300, 300)
    ring.skip(600)  # samples 300..599 were never read
    assert ring.dropped == 300
    ring.write(_ramp(800, 2000))  # overwrites up to 1000: 600..999 were not read either
    assert ring.dropped == 700


def test_reading_ahead_of_the_writer_is_a_bug_not_a_window() -> None:
    ring = Ring(100)
    ring.write(_ramp(0, 50))
    with pytest.raises(ValueError, match="not written yet"):
        ring.read(60, 10)


def test_concurrent_writer_never_tears_a_window() -> None:
    ring, stop = Ring(4_000), threading.Event()

    def writer() -> None:
        at = 0
        while not stop.is_set() and at < 2**23:
            ring.write(_ramp(at, at + 37))
            at += 37

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        checked = 0
        while checked < 2000:
            end = ring.written
            window = ring.read(end, 1_000) if end >= 1_000 else None
            if window is not None:
                np.testing.assert_array_equal(window, _ramp(end - 1_000, end))
                checked += 1
    finally:
        stop.set()
        thread.join()


def _windows_from_file(wave: np.ndarray, capacity: int, realtime: bool, length: int, hop: int,
                       delay: float = 0.0) -> tuple[list[int], list[np.ndarray], Ring]:
    ring = Ring(capacity)
    source = FileSource(ring, wave, RATE, 4096 if not realtime else 320, realtime=realtime)
    source.start()
    ends, windows, next_end = [], [], length
    while ring.wait_for(next_end, timeout=5.0):
        held = ring.held()
        if next_end - length < held.oldest:  # fell behind: on to the first whole window
            next_end += -(-(held.oldest - (next_end - length)) // hop) * hop
        for end in range(next_end, min(held.written, next_end + 3 * hop) + 1, hop):
            window = ring.read(end, length)
            if window is not None:
                ends.append(end)
                windows.append(window)
            next_end = end + hop
        ring.release(next_end - length)
        time.sleep(delay)  # a slow model
    source.stop()
    return ends, windows, ring


def test_fast_file_source_waits_for_a_slow_reader_and_drops_nothing() -> None:
    wave = stream([(0.5, "low"), (2.0, "high")], seconds=3.0)
    ends, windows, ring = _windows_from_file(wave, capacity=20_000, realtime=False, length=16_000, hop=1_600, delay=0.01)
    assert ring.dropped == 0
    assert ends == list(range(16_000, len(wave) + 1, 1_600))  # every window, at the right offsets
    for end, window in zip(ends, windows):
        np.testing.assert_array_equal(window, wave[end - 16_000 : end])


def test_paced_file_source_arrives_in_real_time_and_drops_behind_a_slow_reader() -> None:
    wave = stream([(0.2, "low")], seconds=1.0)
    started = time.perf_counter()
    ends, _, ring = _windows_from_file(wave, capacity=4_000, realtime=True, length=1_600, hop=1_600, delay=0.25)
    elapsed = time.perf_counter() - started
    assert elapsed >= 0.95  # one second of audio took (at least) one second
    assert ring.dropped > 0  # the reader slept 250 ms per 100 ms window: the ring overflowed
    assert ends[-1] == len(wave)  # ... and the newest audio was kept


def test_arrival_times_follow_the_writes() -> None:
    ring = Ring(10_000)
    before = time.perf_counter()
    ring.write(_ramp(0, 100))
    time.sleep(0.05)
    middle = time.perf_counter()
    ring.write(_ramp(100, 200))
    first, second, unknown = ring.arrival_times(np.array([99, 100, 200]))
    assert before <= first < middle <= second
    assert np.isnan(unknown)  # not written yet
