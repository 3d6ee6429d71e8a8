"""The bad-audio corpus: the odd files users feed livecmd, written fresh by the tests.

`write(folder)` writes every case into `folder` and returns them as `Case`s: the file's name,
what is odd about it, and whether livecmd can use it. A usable file decodes to finite samples
(`listen` exits 0; `train` and `eval` use the clip); an unusable one is refused with one line
(`listen` exits 2; `train` and `eval` skip it and count it as broken).

With `all_wav=True` every file is named `*.wav`, as in a Speech Commands folder (whose indexer
reads `*.wav` only): the compressed containers are then found by their content, not their name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

RATE = 16_000
HOP = 1_600  # `listen`'s default hop (100 ms) at 16 kHz: the short cases are shorter than this


@dataclass(frozen=True)
class Case:
    name: str  # file (or folder) name inside the corpus folder
    what: str  # what is odd about it, for test ids and docs/robustness.md
    usable: bool  # decodes to finite samples (else refused with one line / skipped and counted)


def tone(seconds: float = 1.0, rate: int = RATE, channels: int = 1, amplitude: float = 0.5) -> np.ndarray:
    """A 440 Hz sine, (frames,) or (frames, channels) float64; each channel its own phase."""
    t = np.arange(round(seconds * rate)) / rate
    waves = [amplitude * np.sin(2 * np.pi * 440.0 * t + c) for c in range(channels)]
    return waves[0] if channels == 1 else np.stack(waves, axis=1)


def _wav(data: np.ndarray, rate: int = RATE, subtype: str = "PCM_16") -> Callable[[Path], None]:
    return lambda path: sf.write(path, data, rate, subtype=subtype, format="WAV")


def _compressed(fmt: str) -> Callable[[Path], None]:
    return lambda path: sf.write(path, tone(1.0, 44_100), 44_100, format=fmt)


def _cut(write: Callable[[Path], None], keep: Callable[[int], int]) -> Callable[[Path], None]:
    """Write a file, then keep only its first keep(size) bytes: a copy that stopped half way."""

    def make(path: Path) -> None:
        write(path)
        data = path.read_bytes()
        path.write_bytes(data[: keep(len(data))])

    return make


def _non_finite(values: tuple[float, ...]) -> np.ndarray:
    wave = tone().astype(np.float32)
    wave[:: 97] = np.resize(np.asarray(values, dtype=np.float32), len(wave[:: 97]))
    return wave


def _square(level: float) -> np.ndarray:
    return np.where(tone() >= 0, level, -level)


# (name, what, usable, writer); names get their real extension unless all_wav.
_CASES: list[tuple[str, str, bool, Callable[[Path], None]]] = [
    ("empty.wav", "empty file (0 bytes)", False, lambda p: p.write_bytes(b"")),
    ("truncated-header.wav", "truncated inside the header (30 bytes)", False, _cut(_wav(tone()), lambda n: 30)),
    ("header-only.wav", "a header that promises samples, then none", False, _cut(_wav(tone()), lambda n: 44)),
    ("truncated-data.wav", "truncated half way through the samples", True, _cut(_wav(tone()), lambda n: n // 2)),
    ("zero-samples.wav", "a valid WAV of zero samples", False, _wav(np.zeros(0))),
    *[(f"subtype-{s.lower()}.wav", f"WAV subtype {s}", True, _wav(tone(), subtype=s))
      for s in ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")],
    *[(f"channels-{c}.wav", f"{c} channel{'s' if c > 1 else ''}", True, _wav(tone(channels=c))) for c in range(1, 9)],
    *[(f"rate-{r}.wav", f"{r / 1000:g} kHz", True, _wav(tone(rate=r), rate=r))
      for r in (8_000, 11_025, 22_050, 32_000, 44_100, 48_000, 88_200, 96_000)],
    ("nan.wav", "NaN samples (float WAV)", True, _wav(_non_finite((np.nan,)), subtype="FLOAT")),
    ("inf.wav", "+Inf and -Inf samples (float WAV)", True, _wav(_non_finite((np.inf, -np.inf)), subtype="FLOAT")),
    ("all-nan.wav", "every sample NaN", True, _wav(np.full(RATE, np.nan, dtype=np.float32), subtype="FLOAT")),
    ("huge.wav", "float samples of ±1e38, 44.1 kHz (overflow when resampled)", True,
     _wav(np.where(tone(rate=44_100) >= 0, 1e38, -1e38).astype(np.float32), 44_100, "FLOAT")),
    ("clipped.wav", "full-scale clipping (16-bit square wave)", True, _wav(_square(1.0))),
    ("over-full-scale.wav", "float samples far past full scale (±8)", True, _wav(_square(8.0), subtype="FLOAT")),
    ("dc-offset.wav", "DC offset (+0.7)", True, _wav(0.7 + 0.25 * tone())),
    ("one-sample.wav", "one sample", True, _wav(np.array([0.5]))),
    ("shorter-than-hop.wav", f"{HOP // 2} samples (half a hop)", True, _wav(tone(HOP / 2 / RATE))),
    ("folder.wav", "a directory named *.wav", False, lambda p: p.mkdir()),
    ("text.wav", "a text file named *.wav", False, lambda p: p.write_text("these are not the samples you are looking for\n" * 20)),
    ("dangling.wav", "a symbolic link to nothing", False, lambda p: p.symlink_to(p.with_name("gone.wav"))),
    ("tone.mp3", "MP3 (44.1 kHz)", True, _compressed("MP3")),
    ("tone.ogg", "OGG Vorbis (44.1 kHz)", True, _compressed("OGG")),
    ("tone.flac", "FLAC (44.1 kHz)", True, _compressed("FLAC")),
    ("truncated.mp3", "MP3 cut half way", True, _cut(_compressed("MP3"), lambda n: n // 2)),
    ("truncated.ogg", "OGG cut half way", False, _cut(_compressed("OGG"), lambda n: n // 2)),
    ("truncated.flac", "FLAC cut half way", False, _cut(_compressed("FLAC"), lambda n: n // 2)),
]

CASES = tuple(Case(name, what, usable) for name, what, usable, _ in _CASES)


def write(folder: Path, all_wav: bool = False) -> list[Case]:
    """Write the corpus into `folder` (created); with `all_wav`, every name ends in .wav."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, what, usable, make in _CASES:
        if all_wav and not name.endswith(".wav"):
            name = name.replace(".", "-") + ".wav"
        make(folder / name)
        cases.append(Case(name, what, usable))
    return cases
