"""A narrowband microphone (livecmd.stream.band): listen says when nothing above 4 kHz reaches it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from livecmd import audio
from livecmd.recognizer import Recognizer
from livecmd.stream.band import NARROW_BELOW_DB, BandMeter

RATE = 16_000
REPO = Path(__file__).resolve().parents[1]
DEMO = audio.load(REPO / "examples" / "demo.wav")
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}, "COLUMNS": "200"}


def _sampled_at(wave: np.ndarray, rate: int) -> np.ndarray:
    """`wave` as a microphone that samples at `rate` delivers it, resampled to 16 kHz."""
    return soxr.resample(soxr.resample(wave, RATE, rate), rate, RATE).astype(np.float32)


def _flags(wave: np.ndarray, chunk: int) -> list[bool]:
    meter = BandMeter(RATE)
    flags = []
    for at in range(0, len(wave), chunk):
        meter.feed(wave[at : at + chunk])
        flags.append(meter.narrowband)
    return flags


def test_the_demo_is_wideband_and_through_an_8_khz_microphone_narrowband_within_a_second() -> None:
    assert not any(_flags(DEMO, 1_600))
    narrow = _flags(_sampled_at(DEMO, 8_000), 1_600)
    assert not narrow[0] and narrow.index(True) <= 10 and all(narrow[10:])  # a second heard, then for good
    assert not any(_flags(_sampled_at(DEMO, 12_000), 1_600))  # 12 kHz keeps 4.3-6 kHz: the model hears most of it
    assert _flags(_sampled_at(DEMO, 8_000), 333)[-1] and not _flags(DEMO, 4_801)[-1]  # whatever the chunks


def test_digital_silence_says_nothing_and_a_wideband_microphone_after_a_narrowband_one_clears_it() -> None:
    meter = BandMeter(RATE)
    meter.feed(np.zeros(5 * RATE, np.float32))
    assert meter.above_db is None and not meter.narrowband
    meter.feed(_sampled_at(DEMO[: 4 * RATE], 8_000))
    assert meter.above_db < NARROW_BELOW_DB and meter.narrowband
    meter.feed(DEMO[4 * RATE : 15 * RATE])  # the headset back in its high-quality mode: the last 10 s decide
    assert not meter.narrowband


def test_the_recognizer_and_the_live_view_tell_a_narrowband_microphone(tmp_path: Path) -> None:
    recognizer = Recognizer(threads=1)
    recognizer.feed(_sampled_at(DEMO[: 3 * RATE], 8_000))
    assert recognizer.narrowband
    recognizer.reset()
    recognizer.feed(DEMO[: 3 * RATE])
    assert not recognizer.narrowband
    clip = tmp_path / "headset.wav"
    sf.write(clip, _sampled_at(DEMO[: 6 * RATE], 8_000), RATE, subtype="PCM_16")
    result = subprocess.run([sys.executable, "-m", "livecmd", "listen", "--input", str(clip), "--fast"],
                            capture_output=True, text=True, timeout=300, env=ENV)
    assert result.returncode == 0, result.stderr
    assert "nothing above 4 kHz" in result.stdout and "hands-free" in result.stdout and "yes and stop" in result.stdout
    programs = subprocess.run([sys.executable, "-m", "livecmd", "listen", "--input", str(clip), "--fast", "--json"],
                              capture_output=True, text=True, timeout=300, env=ENV)
    assert programs.returncode == 0 and programs.stderr.count("nothing above 4 kHz") == 1  # told once, on stderr
    assert "yes and stop" in programs.stderr  # the shipped commands' words it costs
    assert programs.stdout and all("label" in json.loads(line) for line in programs.stdout.splitlines())  # the JSON lines as they were
    plain = subprocess.run([sys.executable, "-m", "livecmd", "listen", "--input", str(REPO / "examples" / "demo.wav"), "--fast"],
                           capture_output=True, text=True, timeout=300, env=ENV)
    assert plain.returncode == 0 and "nothing above 4 kHz" not in plain.stdout
