"""Commands said alone: the run of voice around each window (`livecmd.stream.utterance`), the
decisions that ignore words inside longer talk, and `listen --max-utterance-ms` on real words."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from livecmd import audio, weights
from livecmd.domains import SILENCE, UNKNOWN
from livecmd.stream.decide import DecideSettings, Decider
from livecmd.stream.utterance import UtteranceMeter
from livecmd.errors import LivecmdError
from tests.conftest import REPO, random_weights, shared_data
from train.augment import add_noise_under_voice, word_span
from train.streams import NOISE, PART_A

RATE = 16_000
HOP = 1_600


def _words(*names: str) -> list[np.ndarray]:
    """Real words of part A ("stop:0": the first clip of stop; other words from `_unknown_`),
    each cut to its span (no pause left around it)."""
    part_a = shared_data(PART_A)
    spans = []
    for label, k in (name.split(":") for name in names):
        clips = sorted((part_a / label).glob("*.wav")) if (part_a / label).is_dir() else sorted((part_a / UNKNOWN).glob(f"{label}_*"))
        wave = audio.load(clips[int(k)], RATE)
        start, end = word_span(wave, floor_db=20.0)
        spans.append(wave[start:end])
    return spans


def _talk(text: str) -> np.ndarray:
    """`text` read by espeak-ng: a run of voice seconds long, with the pauses of speech (none
    before or after it)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install -y espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["espeak-ng", "-w", f"{tmp}/talk.wav", text], check=True, timeout=60)
        talk = audio.load(Path(tmp) / "talk.wav", RATE)
    start, end = word_span(talk, floor_db=40.0)  # espeak's silence before and after
    return talk[start:end]


def _in_room(wave: np.ndarray, snr_db: float = 30.0) -> np.ndarray:
    return add_noise_under_voice(wave, np.resize(audio.load(shared_data(NOISE), RATE), len(wave)), snr_db)


def _lengths(wave: np.ndarray, chunk: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    meter = UtteranceMeter(RATE, RATE)
    ends = np.arange(RATE, len(wave) + 1, HOP)
    if chunk is None:
        meter.feed(wave)
        return ends, meter.lengths(ends)
    lengths, fed = [], 0
    for end in ends:
        meter.feed(wave[fed:end])
        fed = end
        lengths.append(meter.lengths(np.array([end]))[0])
    return ends, np.array(lengths)


def test_a_word_said_alone_is_a_short_run_of_voice_and_talk_a_long_one() -> None:
    pause = np.zeros(2 * RATE, np.float32)
    alone = _words("stop:0")[0]
    talk = _talk("The bird sat in the tree by the house and sang to the dog all afternoon.")
    wave = _in_room(np.concatenate([pause, alone, pause, talk, pause]))
    ends, lengths = _lengths(wave)
    word_at, talk_at = len(pause) + len(alone), 2 * len(pause) + len(alone) + len(talk)
    around_word = (ends > len(pause)) & (ends <= word_at + RATE // 2)
    assert 0.1 < lengths[around_word].max() <= len(alone) / RATE + 0.05
    at_talk_end = np.searchsorted(ends, talk_at)
    assert lengths[at_talk_end] > 1.5  # a run of words (the sentence's longest, between its pauses), not its last word
    assert lengths[-1] == 0.0  # over a second of pause: no voice in the window


def test_lengths_do_not_depend_on_how_the_stream_is_fed() -> None:
    # listen feeds a hop at a time, `listen --fast` and the benchmarks a whole clip at once
    rng = np.random.default_rng(0)
    wave = _in_room(np.concatenate([np.zeros(RATE, np.float32), *(np.r_[w, np.zeros(rng.integers(1, 20) * 800, np.float32)]
                                                                  for w in _words("yes:0", "no:0", "up:0", "down:0", "left:0") * 3)]))
    _, whole = _lengths(wave)
    _, hops = _lengths(wave, chunk=HOP)
    assert len(wave) > 10 * RATE and np.array_equal(whole, hops)


def test_a_gap_in_the_stream_forgets_the_voice_before_it() -> None:
    meter = UtteranceMeter(RATE, RATE)
    talk = _in_room(_talk("The bird sat in the tree by the house all afternoon."))
    meter.feed(talk)
    assert meter.lengths(np.array([len(talk)]))[0] > 1.0
    meter.skip(3 * RATE)
    meter.feed(np.zeros(RATE, np.float32))
    assert meter.lengths(np.array([len(talk) + 4 * RATE]))[0] == 0.0


def test_digital_silence_before_a_room_does_not_make_the_rooms_hum_a_run_of_voice() -> None:
    """A device that sends zeros before it starts, or a clip that begins in digital silence:
    the hum that follows is no voice, and a word said alone in it is still a short run."""
    hum = audio.load(shared_data(NOISE), RATE)[: 3 * RATE] * np.float32(0.05)
    alone = _words("stop:0")[0]
    wave = np.concatenate([np.zeros(3 * RATE, np.float32), hum, hum[:RATE] + np.pad(alone, (0, RATE - len(alone))), hum])
    ends, lengths = _lengths(wave)
    word_at = 6 * RATE + len(alone)
    before_word = (ends > 4 * RATE) & (ends < 6 * RATE)
    assert lengths[before_word].max() == 0.0  # the hum alone: no voice
    around_word = (ends > 6 * RATE) & (ends <= word_at + RATE // 2)
    assert 0.1 < lengths[around_word].max() <= len(alone) / RATE + 0.05


def test_a_window_inside_a_longer_run_of_voice_does_not_fire() -> None:
    labels = ("go", SILENCE, UNKNOWN)
    scores = np.tile(np.array([[0.9, 0.05, 0.05]], np.float32), (3, 1))
    ends = RATE + HOP * np.arange(3)

    def fired(max_s: float, lengths: list[float]) -> list[str]:
        settings = DecideSettings(labels, (0.5, 0.5, 0.5), 1, RATE, False, RATE, max_utterance_s=max_s)
        return [d.label for d in Decider(settings).update(ends, scores, np.array(lengths, np.float32))[1]]

    assert fired(0.8, [0.5, 0.6, 0.6]) == ["go"]
    assert fired(0.8, [1.5, 1.6, 1.7]) == []  # the word is part of talk
    assert fired(0.8, [1.5, 0.6, 0.6]) == ["go"]  # fires once the window holds only the word
    assert fired(0.0, [1.5, 1.6, 1.7]) == ["go"]  # 0: any length


def _listen(clip: Path, *options: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "livecmd", "listen", "--input", str(clip), "--json", "--fast", *options],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return [json.loads(line)["label"] for line in done.stdout.splitlines()]


def test_the_shipped_model_hears_commands_said_alone_and_not_the_same_words_ending_a_run_of_talk(tmp_path: Path) -> None:
    assert weights.listen_settings(weights.read_meta(weights.shipped("speech"))).max_utterance_ms == 1200
    pause = np.zeros(2 * RATE, np.float32)
    words = _words("go:0", "yes:0", "left:0")
    talk = _talk("The bird sat in the tree by the house and sang to the dog all afternoon")
    alone = tmp_path / "alone.wav"
    sf.write(alone, _in_room(np.concatenate([pause, *(np.r_[w, pause] for w in words)])), RATE)
    in_talk = tmp_path / "in-talk.wav"
    sf.write(in_talk, _in_room(np.concatenate([pause, *(np.r_[talk, w, pause] for w in words)])), RATE)
    assert _listen(alone) == ["go", "yes", "left"]
    assert _listen(in_talk, "--max-utterance-ms", "0") == ["go", "yes", "left"]  # the model alone hears them after the talk
    assert _listen(in_talk) == []


def test_weights_with_a_longest_utterance_that_is_no_time_are_a_user_error(tmp_path: Path) -> None:
    loaded = weights.load(weights.shipped("speech"))
    bad = weights.save(tmp_path / "bad.safetensors", loaded.model,
                       replace(loaded.meta, extra={"listen": {**loaded.meta.extra["listen"], "max_utterance_ms": -5}}))
    done = subprocess.run([sys.executable, "-m", "livecmd", "listen", "--input", str(REPO / "examples" / "demo.wav"), "--json",
                           "--fast", "--weights", str(bad)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert "max_utterance_ms -5 is not a number of milliseconds" in done.stderr and "--max-utterance-ms" in done.stderr


def test_the_view_names_the_rule_and_a_music_tagger_refuses_it(tmp_path: Path) -> None:
    from livecmd import Recognizer

    assert "commands said alone: none inside 1.2 s of voice" in Recognizer(threads=1).describe()
    assert "said alone" not in Recognizer(threads=1, max_utterance_ms=0).describe()
    assert "each fired at its peak (after 101 ms without a rise)" in Recognizer(threads=1).describe()  # the shipped wait, one hop
    assert "peak" not in Recognizer(threads=1, peak_ms=0).describe()
    tagger = random_weights(tmp_path / "mtat.safetensors", "mtat", "samplecnn")
    with pytest.raises(LivecmdError, match="for spoken commands: a mtat model tags sounds"):
        Recognizer(tagger, max_utterance_ms=1000)
