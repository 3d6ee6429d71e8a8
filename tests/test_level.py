"""Automatic gain control (livecmd.stream.level): soft audio up to the model's level, loud audio as it is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from livecmd.stream.level import FLOOR_BELOW_DB, FRAME, MAX_GAIN_DB, RISE_DB_PER_S, LevelControl

RATE = 16_000
TARGET = -11.0
REPO = Path(__file__).resolve().parents[1]


def _room(seconds: float, words_at: tuple[float, ...], word_dbfs: float, noise_dbfs: float, seed: int = 0) -> np.ndarray:
    """Noise at `noise_dbfs` RMS with 0.4-s voiced bursts (a 200-Hz buzz with harmonics) whose
    loudest 10-ms frames reach about `word_dbfs`."""
    rng = np.random.default_rng(seed)
    wave = rng.normal(0, 10 ** (noise_dbfs / 20), int(seconds * RATE)).astype(np.float32)
    t = np.arange(int(0.4 * RATE)) / RATE
    buzz = sum(np.sin(2 * np.pi * 200 * k * t) / k for k in range(1, 6)) * np.hanning(len(t))
    buzz *= 10 ** (word_dbfs / 20) / np.sqrt(np.mean(buzz[len(t) // 2 - 80 : len(t) // 2 + 80] ** 2))
    for at in words_at:
        wave[int(at * RATE) : int(at * RATE) + len(t)] += buzz.astype(np.float32)
    return wave


def _frame_db(wave: np.ndarray) -> np.ndarray:
    frames = wave[: len(wave) // FRAME * FRAME].reshape(-1, FRAME).astype(np.float64)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-30)


def test_audio_at_the_usual_level_is_left_as_it_is() -> None:
    wave = _room(12, (1, 3, 5, 7, 9), word_dbfs=-8, noise_dbfs=-40)  # the demo clip's levels
    out = LevelControl(TARGET).process(wave)
    np.testing.assert_array_equal(out, wave[: len(out)])


def test_digital_silence_before_a_room_does_not_raise_the_room() -> None:
    """Zeros a device sends before it starts are no noise floor: the room after them, at the
    usual level, is left as it is from its first frame."""
    room = _room(8, (2, 5), word_dbfs=-8, noise_dbfs=-40)
    wave = np.concatenate([np.zeros(3 * RATE, np.float32), room])
    out = LevelControl(TARGET).process(wave)
    np.testing.assert_array_equal(out[3 * RATE :], room[: len(out) - 3 * RATE])


def test_a_quiet_microphone_is_brought_up_to_the_target_and_never_past_it() -> None:
    loud = _room(12, (1, 3, 5, 7, 9), word_dbfs=-8, noise_dbfs=-46)
    quiet = loud * np.float32(10 ** (-25 / 20))  # the same room 25 dB softer
    control = LevelControl(TARGET)
    out = control.process(quiet)
    levels = _frame_db(out)
    words = _frame_db(loud) > -20
    assert abs(levels[words].max() - TARGET) < 0.5  # its loudest frames reach the target
    assert levels.max() < TARGET + 0.01  # and no frame goes past it
    assert abs(control.gain_db - (TARGET - (-8 - 25))) < 0.5  # -33 dBFS words: 22 dB up
    # the words sit over the noise as they did: the ratio of word to noise is kept
    assert abs((levels[words].mean() - np.median(levels)) - (_frame_db(loud)[words].mean() - np.median(_frame_db(loud)))) < 1.0


def test_a_pause_raises_only_a_quiet_microphones_noise_floor() -> None:
    # a quiet room heard by a microphone at its usual level: the hum stays where it is
    hum = _room(15, (), word_dbfs=-8, noise_dbfs=-70)
    out = LevelControl(TARGET).process(hum)
    assert np.percentile(_frame_db(out), 10) < TARGET - FLOOR_BELOW_DB + 0.5  # raised at most to -45 dBFS
    # after a word, the gain comes back up no faster than RISE_DB_PER_S
    control = LevelControl(TARGET)
    gains = [(control.process(chunk), control.gain_db)[1]
             for chunk in np.split(_room(20, (1,), word_dbfs=-30, noise_dbfs=-75), 200)]
    assert max(np.diff(gains)) <= RISE_DB_PER_S * 0.1 + 1e-6 and max(gains) <= MAX_GAIN_DB


def test_the_gain_depends_on_the_stream_not_on_how_it_is_cut() -> None:
    wave = _room(14, (0.5, 2, 6, 12), word_dbfs=-35, noise_dbfs=-65, seed=3)
    whole = LevelControl(TARGET).process(wave)
    control, parts = LevelControl(TARGET), []
    rng = np.random.default_rng(1)
    at = 0
    while at < len(wave):
        size = int(rng.integers(1, 5000))
        parts.append(control.process(wave[at : at + size]))
        at += size
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert control.pending == len(wave) % FRAME


def test_listen_hears_the_demo_30_db_softer_with_gain_control_and_not_without(tmp_path: Path) -> None:
    """The real model on the demo clip as a microphone 30 dB quieter gives it: the same
    commands as at its own level, where `--no-agc` loses nearly all of them."""
    wave, rate = sf.read(REPO / "examples" / "demo.wav", dtype="float32")
    soft = tmp_path / "soft.wav"
    sf.write(soft, wave * np.float32(10 ** (-30 / 20)), rate, subtype="PCM_16")

    def labels(path: Path, *args: str) -> list[str]:
        done = subprocess.run([sys.executable, "-m", "livecmd", "listen", "--input", str(path), "--json", "--fast", *args],
                              capture_output=True, text=True, timeout=300, cwd=REPO)
        assert done.returncode == 0, done.stderr
        return [json.loads(line)["label"] for line in done.stdout.splitlines()]

    heard = labels(REPO / "examples" / "demo.wav")
    assert labels(soft) == heard and len(heard) >= 10
    assert len(labels(soft, "--no-agc")) <= 3


def test_a_gap_in_the_stream_drops_the_frame_that_waited_and_keeps_the_window_grid() -> None:
    import livecmd

    rec = livecmd.Recognizer(threads=1)
    wave = _room(3, (0.5, 2.0), word_dbfs=-35, noise_dbfs=-65)
    fed = 16_050  # not a whole number of frames: 50 samples wait for their frame
    first = rec.score(wave[:fed])
    assert rec.position == fed and rec.next_end % FRAME == 0 and rec.next_end >= rec.window_samples
    rec.skip(7_000)
    assert rec.position == fed + 7_000
    later = rec.score(wave[fed:])
    ends = np.concatenate([first.ends, later.ends])
    assert len(later.ends) > 0 and all((e - rec.window_samples) % rec.hop == 0 for e in ends)
    assert later.ends[0] - rec.window_samples >= fed + 7_000  # no window reaches back into the gap
    assert rec.position == fed + 7_000 + len(wave) - fed
