"""Audio in: every WAV subtype, other containers, channel mixing, resampling, pad/crop, segments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from livecmd import audio
from livecmd.errors import LivecmdError
from tests.conftest import shared_data


def _tone(freq: float, rate: int, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def _peak_hz(wave: np.ndarray, rate: int = 16_000) -> float:
    spectrum = np.abs(np.fft.rfft(wave))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_every_wav_subtype_round_trips(tmp_path: Path, subtype: str) -> None:
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, _tone(440, 16_000, 0.5), 16_000, subtype=subtype)
    wave = audio.load(path)
    assert wave.dtype == np.float32 and wave.shape == (8_000,)
    assert np.allclose(wave, _tone(440, 16_000, 0.5), atol=0.01 if subtype == "PCM_U8" else 1e-4)


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 48_000])
def test_other_rates_are_resampled_to_16k_keeping_pitch(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "tone.wav"
    sf.write(path, _tone(1_000, rate, 1.0), rate, subtype="PCM_16")
    wave = audio.load(path)
    assert len(wave) == 16_000
    assert abs(_peak_hz(wave) - 1_000) <= 2


def test_stereo_is_mixed_to_mono(tmp_path: Path) -> None:
    left, right = _tone(500, 16_000, 0.25), _tone(2_000, 16_000, 0.25)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 16_000, subtype="FLOAT")
    assert np.allclose(audio.load(path), (left + right) / 2, atol=1e-6)


@pytest.mark.parametrize("fmt,ext", [("FLAC", "flac"), ("OGG", "ogg"), ("MP3", "mp3")])
def test_compressed_containers_decode(tmp_path: Path, fmt: str, ext: str) -> None:
    path = tmp_path / f"tone.{ext}"
    sf.write(path, _tone(440, 44_100, 1.0), 44_100, format=fmt)
    wave = audio.load(path)
    assert abs(len(wave) - 16_000) < 1_200  # MP3 adds encoder padding
    assert abs(_peak_hz(wave[:15_000], 16_000) - 440) <= 3


def test_non_finite_samples_are_zeroed(tmp_path: Path) -> None:
    data = _tone(440, 16_000, 0.1).astype(np.float32)
    data[10], data[20], data[30] = np.nan, np.inf, -np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, data, 16_000, subtype="FLOAT")
    wave = audio.load(path)
    assert np.isfinite(wave).all() and wave[10] == wave[20] == wave[30] == 0


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_text("not audio at all"), "cannot read audio"),
        (lambda p: sf.write(p, np.zeros(0), 16_000), "holds no samples"),
    ],
)
def test_unusable_files_raise_the_user_error(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "x.wav"
    make(path)
    with pytest.raises(LivecmdError, match=message):
        audio.load(path)


def test_truncated_wav_is_refused_or_read_short(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    sf.write(path, _tone(440, 16_000, 1.0), 16_000, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[:30])  # cut inside the header
    with pytest.raises(LivecmdError):
        audio.load(path)


def test_fit_pads_short_and_crops_long() -> None:
    short = np.ones(10, dtype=np.float32)
    padded = audio.fit(short, 16)
    assert padded.shape == (16,) and padded[:10].sum() == 10 and padded[10:].sum() == 0
    long = np.arange(40, dtype=np.float32)
    assert np.array_equal(audio.fit(long, 16), long[:16])


def test_segments_cover_the_clip_from_start_to_end() -> None:
    wave = np.arange(100, dtype=np.float32)
    segs = audio.segments(wave, 30, 4)
    assert segs.shape == (4, 30)
    assert segs[0, 0] == 0 and segs[-1, -1] == 99  # first starts at the start, last ends at the end
    assert np.all(np.diff(segs[:, 0]) > 0)


def test_segments_of_a_short_clip_are_padded_copies() -> None:
    segs = audio.segments(np.ones(5, dtype=np.float32), 8, 3)
    assert segs.shape == (3, 8) and np.array_equal(segs[1], [1, 1, 1, 1, 1, 0, 0, 0])


def test_real_clips_of_every_kind_decode() -> None:
    found = []
    for folder in ("music", "scenes", "speech_other"):
        root = shared_data(folder)
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in {".wav", ".ogg", ".mp3", ".flac"}:
                wave = audio.load(path)
                assert wave.dtype == np.float32 and len(wave) > 1_000 and np.isfinite(wave).all()
                assert 0.001 < np.abs(wave).max() <= 1.5, path
                found.append(path.suffix.lower())
    assert {".ogg", ".mp3", ".wav"} <= set(found)


def test_real_speech_commands_clips_decode_at_16k() -> None:
    root = shared_data("speech_commands_test_set_v0.02_part_a")
    clips = sorted(root.glob("*/*.wav"))[::200]
    assert len(clips) > 5
    for path in clips:
        wave = audio.load(path)
        assert len(wave) <= 16_000 and len(audio.fit(wave, 16_000)) == 16_000
