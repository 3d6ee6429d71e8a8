"""`livecmd record`: takes from a microphone, checked and written in the Speech Commands layout.

The take checks run on generated audio; the recording itself runs through the virtual
microphone (../shared/tools/virtual-mic) playing a word synthesized by espeak-ng.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from livecmd.domains import SAMPLE_RATE
from livecmd.record import judge
from tests.test_mic import VMIC, vmic  # noqa: F401  (the virtual-microphone fixture)

RNG = np.random.default_rng(0)


def _stretch(word_at: float, word_s: float = 0.5, amplitude: float = 0.3, seconds: float = 2.5) -> np.ndarray:
    """Room noise at -60 dBFS with a 300-Hz 'word' of `word_s` seconds at `word_at` seconds."""
    wave = (RNG.standard_normal(round(seconds * SAMPLE_RATE)) * 1e-3).astype(np.float32)
    start, n = round(word_at * SAMPLE_RATE), round(word_s * SAMPLE_RATE)
    n = min(n, len(wave) - start)
    wave[start : start + n] += amplitude * np.sin(2 * np.pi * 300 * np.arange(n) / SAMPLE_RATE).astype(np.float32)
    return wave


def test_a_whole_clear_word_is_kept_and_located() -> None:
    verdict = judge(_stretch(1.0))
    assert verdict.ok, verdict.why
    first, last = verdict.sound
    assert abs(first - SAMPLE_RATE) <= 160 and abs(last - 1.5 * SAMPLE_RATE) <= 160


def test_a_phrase_with_a_short_pause_is_one_take() -> None:
    wave = _stretch(0.5, 0.4) + _stretch(1.1, 0.4)  # 0.2 s apart
    verdict = judge(wave)
    assert verdict.ok and verdict.sound[1] - verdict.sound[0] >= 0.9 * SAMPLE_RATE


@pytest.mark.parametrize(("wave", "why"), [
    (_stretch(1.0, amplitude=1.5), "clipped"),
    (_stretch(1.0, amplitude=0.004), "too quiet"),
    (_stretch(0.0), "cut off"),
    (_stretch(2.1, word_s=0.4), "cut off"),
    (_stretch(1.0, word_s=0.05), "say the whole word"),
    (np.zeros(2 * SAMPLE_RATE, np.float32), "too quiet"),
], ids=["clipped", "quiet", "cut-start", "cut-end", "click", "silence"])
def test_bad_takes_are_refused_with_the_reason(wave: np.ndarray, why: str) -> None:
    verdict = judge(np.clip(wave, -1, 1))
    assert not verdict.ok and why in verdict.why


def _two_takes_of_lights(env: dict[str, str], tmp_path: Path, loop: list[str]) -> subprocess.CompletedProcess[str]:
    """`livecmd record` of two takes of "lights" in 3-s stretches while the virtual microphone
    loops `loop` (feed.sh's arguments; `env` reaches it); the takes go to tmp_path/takes."""
    subprocess.run([str(VMIC / "feed.sh"), "--loop", *loop], env=env, check=True, timeout=30)
    try:
        return subprocess.run(
            [sys.executable, "-m", "livecmd", "record", "--words", "lights", "--takes", "2", "--out", str(tmp_path / "takes"),
             "--mic", "pulse", "--seconds", "3", "--speaker", "tester"],
            env=env, capture_output=True, text=True, timeout=120,
        )
    finally:
        subprocess.run([str(VMIC / "feed.sh"), "--stop"], env=env, timeout=30)


@pytest.mark.mic
def test_record_writes_the_takes_it_hears_from_the_microphone(vmic: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    said = tmp_path / "lights.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(said), "lights"], check=True, timeout=30)
    result = _two_takes_of_lights(vmic, tmp_path, [str(said), "--gap", "1.2"])
    assert result.returncode == 0, result.stderr
    assert "4 kHz" not in result.stdout  # a wideband microphone is not taken for a headset
    files = sorted((tmp_path / "takes" / "lights").glob("*.wav"))
    assert [f.name.split("_nohash_")[1] for f in files] == ["0.wav", "1.wav"]
    for f in files:
        wave, rate = sf.read(f, dtype="float32")
        assert rate == SAMPLE_RATE and 0.3 * SAMPLE_RATE < len(wave) < 1.6 * SAMPLE_RATE  # the word and 0.2 s either side
        assert judge(np.concatenate([np.zeros(SAMPLE_RATE // 10, np.float32), wave, np.zeros(SAMPLE_RATE // 10, np.float32)])).ok


@pytest.mark.mic
def test_record_gives_up_in_one_line_when_it_hears_nothing(vmic: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    result = subprocess.run(
        [sys.executable, "-m", "livecmd", "record", "--words", "lights", "--takes", "1", "--out", str(tmp_path / "takes"),
         "--mic", "pulse", "--seconds", "1", "--tries", "2"],
        env=vmic, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no usable take of 'lights' in 2 tries" in lines[0] and "too quiet" in lines[0]
    assert not list((tmp_path / "takes").rglob("*.wav"))


@pytest.mark.mic
def test_record_keeps_the_takes_of_a_headset_in_hands_free_mode_and_says_so(vmic: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    """A word and the room around it as an 8-kHz microphone delivers them (a Bluetooth headset in
    its hands-free profile): the takes are kept, and record says once what such a microphone loses."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    said = tmp_path / "lights.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(said), "lights"], check=True, timeout=30)
    word, rate = sf.read(said, dtype="float32")
    word = 0.3 * word / np.abs(word).max()
    room = np.zeros(round(0.6 * rate), np.float32)
    heard = np.concatenate([room, word, room])
    heard += (RNG.standard_normal(len(heard)) * 1e-3).astype(np.float32)  # the room's noise, through the headset too
    headset = tmp_path / "headset.wav"
    sf.write(headset, soxr.resample(soxr.resample(heard, rate, 8_000), 8_000, SAMPLE_RATE), SAMPLE_RATE, subtype="PCM_16")
    result = _two_takes_of_lights(vmic, tmp_path, [str(headset)])
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "takes" / "lights").glob("*.wav"))) == 2
    out = " ".join(result.stdout.split())  # Rich wraps long lines
    assert out.count("hands-free") == 1 and "record them again" in out  # said once in full,
    assert out.count(", nothing above 4 kHz ->") == 2 and "(2 of them with nothing above 4 kHz)" in out  # then on each take
