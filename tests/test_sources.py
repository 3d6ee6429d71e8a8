"""The audio sources' own bookkeeping: PortAudio's input callback (`Capture`), fed blocks and
status flags as PortAudio gives them, without a device."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from livecmd.stream.ring import Ring
from livecmd.stream.sources import Capture

sd = pytest.importorskip("sounddevice", reason="sounddevice needs the PortAudio library (apt-get install libportaudio2)", exc_type=OSError)


def _flags(overflow: bool) -> "sd.CallbackFlags":
    flags = sd.CallbackFlags()
    flags.input_overflow = overflow
    return flags


def _block(frames: int) -> np.ndarray:
    return np.full((frames, 1), 0.1, dtype=np.float32)  # PortAudio's (frames, channels)


def test_an_input_overflow_counts_the_audio_the_driver_discarded_as_dropped() -> None:
    ring = Ring(48_000)
    capture = Capture(ring)
    capture.rate(16_000, 16_000)
    capture(_block(320), 320, SimpleNamespace(inputBufferAdcTime=10.00), _flags(False))
    capture(_block(320), 320, SimpleNamespace(inputBufferAdcTime=10.02), _flags(False))
    assert (ring.written, ring.dropped) == (640, 0)
    # the next block starts 60 ms late: 40 ms (640 samples) never came
    capture(_block(320), 320, SimpleNamespace(inputBufferAdcTime=10.08), _flags(True))
    assert (ring.written, ring.dropped) == (960, 640)
    # a host API without capture times: an overflow is counted as one block, the least it loses
    capture(_block(320), 320, SimpleNamespace(inputBufferAdcTime=0.0), _flags(True))
    assert (ring.written, ring.dropped) == (1280, 960)


def test_an_overflow_at_another_capture_rate_is_counted_at_the_models_rate() -> None:
    ring = Ring(48_000)
    capture = Capture(ring)
    capture.rate(48_000, 16_000)
    capture(_block(960), 960, SimpleNamespace(inputBufferAdcTime=5.00), _flags(False))
    capture(_block(960), 960, SimpleNamespace(inputBufferAdcTime=5.10), _flags(True))  # 80 ms lost
    assert ring.dropped == round(0.08 * 16_000)
    assert 0 < ring.written <= 2 * 320  # resampled to 16 kHz as it streams (less the filter's delay so far)
