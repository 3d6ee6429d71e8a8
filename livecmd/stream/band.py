"""A narrowband microphone: nothing above 4 kHz reaches listen.

A Bluetooth headset switches to its hands-free profile when a program opens its microphone and
then samples at 8 kHz; the system resamples that to 16 kHz with nothing above about 4 kHz. The
shipped speech model, which learned 16-kHz recordings, loses the commands whose sounds live up
there: through an 8-kHz microphone its held-out clips fall from 89% to 81% right (`yes` 11 of
24: without its /s/ it is heard as `left`; `stop` 15 of 24), and the held-out stream's commands
from 79 of 94 to 62 (`benchmarks/narrowband_microphone.py`). Training the model on such audio did
not win them back (docs/performance.md, "Narrowband microphones"), so listen says what it hears:
the user can switch the headset to its high-quality profile or use another microphone.

The measure: over the last `MEMORY_S` seconds, the median over 32-ms frames of the power above
4.3 kHz against the power in the telephone band (0.3-3.4 kHz), taken over the frames within
`LOUD_WITHIN_DB` of the loudest one (the voice, not the pauses); a median, so that the click of a
clip's abrupt end does not pass for a wide band. An 8-kHz microphone gives about -120 dB, and
-90 dB once its audio is 16-bit samples (their rounding noise is wideband), -70 dB for a voice
20 dB softer. Below `NARROW_BELOW_DB`, with at least `MIN_HEARD_S` of sound heard, the input is
narrowband. Measured on 788 recordings of ../shared/data and the negative corpus's benchmark
part: the music, the wake-word recordings and the talk and music of the corpus give -55 dB and
above; below -60 are only recordings that are narrowband themselves: 21 of 687 part A clips
(a few speakers' phones), a dog recording and the one 8-kHz TTS voice (flite's kal).
"""

from __future__ import annotations

import numpy as np

FRAME = 512  # samples at 16 kHz: 32 ms
MEMORY_S = 10.0
MIN_HEARD_S = 1.0
LOUD_WITHIN_DB = 10.0
NARROW_BELOW_DB = -60.0
TELEPHONE_HZ = (300.0, 3400.0)
ABOVE_HZ = (4300.0, 7500.0)


class BandMeter:
    """Stateful: feed a stream's samples in order (any chunks); `narrowband` says whether the last
    `MEMORY_S` seconds came through a microphone that hears nothing above 4 kHz."""

    def __init__(self, sample_rate: int = 16_000):
        self.frame = round(FRAME * sample_rate / 16_000)
        self.memory = round(MEMORY_S * sample_rate / self.frame)  # frames
        self.least = round(MIN_HEARD_S * sample_rate / self.frame)
        hz = np.fft.rfftfreq(self.frame, 1.0 / sample_rate)
        self._bands = [(hz >= low) & (hz <= high) for low, high in (TELEPHONE_HZ, ABOVE_HZ)]
        self._window = np.hanning(self.frame)
        self._pending = np.zeros(0, dtype=np.float32)
        self._powers = np.zeros((0, 2))  # the last `memory` frames' (telephone band, above) powers

    def feed(self, samples: np.ndarray) -> None:
        wave = np.concatenate([self._pending, samples])
        whole = len(wave) // self.frame * self.frame
        self._pending = wave[whole:]
        if not whole:
            return
        spectra = np.abs(np.fft.rfft(wave[:whole].reshape(-1, self.frame) * self._window, axis=1)) ** 2
        powers = np.stack([spectra[:, band].sum(axis=1) for band in self._bands], axis=1)
        self._powers = np.concatenate([self._powers, powers])[-self.memory :]

    def skip(self) -> None:
        """Samples were lost: the part-frame waiting for the rest goes with them."""
        self._pending = np.zeros(0, dtype=np.float32)

    @property
    def above_db(self) -> float | None:
        """The power above 4.3 kHz against the telephone band's in the recent loud frames (median), dB
        (None: less than `MIN_HEARD_S` of sound heard yet; digital silence is not heard)."""
        telephone, above = self._powers.T
        heard = telephone > 0.0
        if heard.sum() < self.least:
            return None
        level = 10 * np.log10(telephone[heard])
        loud = level > level.max() - LOUD_WITHIN_DB
        return float(np.median(10 * np.log10(above[heard][loud] / telephone[heard][loud] + 1e-30)))

    @property
    def narrowband(self) -> bool:
        above = self.above_db
        return above is not None and above < NARROW_BELOW_DB
