"""`livecmd custom` (your own words from TTS voices) and `livecmd eval --data` on label folders.

The training test needs espeak-ng (Debian main) and skips without it; it runs the real command
with one voice, two words and a budget of seconds, so it checks the plumbing (labels, metadata,
listen and eval reading the weights), not accuracy: docs/custom-words.md measures that.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from livecmd import interrupts, weights
from livecmd.domains import SAMPLE_RATE, SILENCE, UNKNOWN
from tests.conftest import REPO, run_cli, shared_data
from livecmd.vocabulary import parse_phrases
from train.custom import HOLDS_MS, LOUDER, MAX_UTTERANCE_MS, THRESHOLDS, Sources, louder, negative_recordings, split_voices, windows
from train.voices import VOICES

VOICE = "espeak-ng:en-us"

# On one pytest-xdist worker, so that `custom_weights` (a real `custom` run, 18 s) is made once.
pytestmark = pytest.mark.xdist_group("custom")


ENV = {"COLUMNS": "200", "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def _livecmd(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "livecmd", *args], capture_output=True, text=True, timeout=timeout, env=ENV)


@pytest.fixture(scope="module")
def custom_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Weights for `lights` and `smart mirror` from one espeak-ng voice, in a 15-s budget."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install -y espeak-ng)")
    out = tmp_path_factory.mktemp("custom") / "words.safetensors"
    result = _livecmd("custom", "--words", "lights, smart mirror", "--voices", VOICE, "--per-voice", "2", "--minutes", "0.25", "--out", str(out))
    assert result.returncode == 0, result.stderr
    # No --negatives: the user is told what that costs and how to build them, first and last.
    assert "without --negatives the model never hears music or talk" in result.stdout.splitlines()[0]
    assert "(trained without --negatives: see above)" in " ".join(result.stdout.split())
    return out


def test_custom_writes_weights_with_the_words_then_unknown_and_silence(custom_weights: Path) -> None:
    meta = weights.read_meta(custom_weights)
    assert meta.labels == ("lights", "smart_mirror", UNKNOWN, SILENCE)
    assert (meta.domain, meta.arch, meta.input_samples) == ("speech", "samplecnn", 16_000)
    assert 0.0 < meta.extra["listen"]["threshold"] <= 1.0
    assert meta.extra["listen"]["max_utterance_ms"] == MAX_UTTERANCE_MS  # listen takes custom words said alone too
    assert meta.extra["listen"]["slow_speech"] is True  # and said slower than the voices (tuned so too)
    assert meta.extra["custom"]["words"] == ["lights", "smart mirror"]
    assert weights.load(custom_weights).model.head[-1].out_features == 4


def test_listen_runs_on_custom_weights_and_names_only_their_labels(custom_weights: Path, tmp_path: Path) -> None:
    from train.synth import Plan, synthesize
    from train.voices import VOICES as ALL

    plan = Plan(out=tmp_path / "said", words=("lights",), voices=tuple(v for v in ALL if v.name == VOICE), per_voice=1, seed=5, workers=1)
    synthesize(plan)
    clip = next((tmp_path / "said" / "lights").glob("*.wav"))
    wave = np.concatenate([np.zeros(SAMPLE_RATE, np.float32), sf.read(clip, dtype="float32")[0], np.zeros(SAMPLE_RATE, np.float32)])
    stream = tmp_path / "stream.wav"
    sf.write(stream, wave, SAMPLE_RATE)
    result = _livecmd("listen", "--json", "--fast", "--input", str(stream), "--weights", str(custom_weights), "--threshold", "0.05")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events, "a threshold of 0.05 fires on something in 3 s of audio"
    assert {e["label"] for e in events} <= {"lights", "smart_mirror"}
    # As a wake word in front of the shipped commands, in real time: heard with slow speech, its
    # events come a pass after their window (listen stopped on them once).
    result = _livecmd("listen", "--json", "--input", str(stream), "--wake", str(custom_weights), "--wake-threshold", "0.05")
    assert result.returncode == 0, result.stderr
    heard = [json.loads(line) for line in result.stdout.splitlines()]
    assert any(e.get("wake") for e in heard) and {e["label"] for e in heard if e.get("wake")} <= {"lights", "smart_mirror"}


def test_eval_data_scores_a_custom_layout(custom_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    for label, count in (("lights", 2), ("smart_mirror", 3), (SILENCE, 4), ("not_a_label", 1)):
        (tmp_path / label).mkdir()
        for k in range(count):
            sf.write(tmp_path / label / f"{k}.wav", (rng.standard_normal(12_000) * 0.01).astype(np.float32), SAMPLE_RATE)
    code, out, err = run_cli(["eval", "--data", str(tmp_path), "--weights", str(custom_weights), "--json"], monkeypatch, capsys)
    assert code == 0, err
    result = json.loads(out.splitlines()[-1])
    assert result["clips"] == 9
    assert result["confusion_labels"] == ["lights", "smart_mirror", UNKNOWN, SILENCE]
    matrix = np.array(result["confusion_matrix"])
    assert matrix.shape == (4, 4) and matrix.sum(axis=1).tolist() == [2, 3, 0, 4]
    assert result["accuracy"] == pytest.approx(np.trace(matrix) / 9)
    assert result["skipped_folders"] == ["not_a_label"]


def test_eval_data_measures_the_shipped_model_on_real_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    part_a = shared_data("speech_commands_test_set_v0.02_part_a")
    for label in ("yes", "stop", SILENCE):
        (tmp_path / label).mkdir()
        for clip in sorted((part_a / label).iterdir())[:8]:
            shutil.copy(clip, tmp_path / label / clip.name)
    code, out, err = run_cli(["eval", "--data", str(tmp_path), "--weights", str(weights.shipped("speech")), "--json"], monkeypatch, capsys)
    assert code == 0, err
    result = json.loads(out.splitlines()[-1])
    assert result["clips"] == 24 and result["accuracy"] >= 0.8  # the shipped model is right on most real yes/stop/silence


def _custom_until_training(out: Path) -> tuple[subprocess.Popen[str], str]:
    """`livecmd custom` with a 5-minute budget, once it has begun to cut training windows."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install -y espeak-ng)")
    process = subprocess.Popen([sys.executable, "-m", "livecmd", "custom", "--words", "lights", "--voices", VOICE, "--per-voice", "2",
                                "--minutes", "5", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**ENV, "PYTHONUNBUFFERED": "1"})
    said, deadline = "", time.monotonic() + 120
    while "transfer:" not in said and time.monotonic() < deadline and process.poll() is None:
        if select.select([process.stdout], [], [], 1.0)[0]:
            said += process.stdout.readline()
    assert "transfer:" in said, (said, process.poll())
    time.sleep(1.0)  # into the windows
    return process, said


def test_ctrl_c_in_custom_stops_training_and_still_writes_tuned_weights(tmp_path: Path) -> None:
    # Minutes of training are worth keeping: the first Ctrl-C ends the training, not the command.
    out = tmp_path / "w.safetensors"
    process, said = _custom_until_training(out)
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "Ctrl-C: training stopped early" in said + rest
    meta = weights.read_meta(out)
    assert meta.labels == ("lights", UNKNOWN, SILENCE) and "listen" in meta.extra
    assert meta.extra["custom"]["stopped_early"] and meta.extra["custom"]["epochs"] == 1


def test_a_second_ctrl_c_after_the_first_stops_at_once_and_one_within_patience_is_the_same_press() -> None:
    # What custom's "Ctrl-C again to quit without writing" rests on (the weights are written last).
    with interrupts.StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)
        assert stop.requested
        os.kill(os.getpid(), signal.SIGINT)  # within the patience: torchrun's forwarded copy of the same press
        time.sleep(0.1)
        time.sleep(interrupts.StopRequest.patience)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)


@pytest.mark.parametrize("words", ["", " , ", "l1ghts", "lights,_unknown_"])
def test_custom_refuses_bad_words_in_one_line(words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["custom", "--words", words, "--out", str(tmp_path / "w.safetensors")], monkeypatch, capsys)
    assert code == 2 and err.startswith("livecmd: error:") and len(err.strip().splitlines()) == 1


def test_custom_runs_from_any_folder_as_train_and_eval_do(tmp_path: Path) -> None:
    # A user's project folder, not the checkout, and no PYTHONPATH: the checkout's train/ is found
    # beside the installed livecmd package (it was a ModuleNotFoundError traceback).
    env = {k: v for k, v in ENV.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-m", "livecmd", "custom", "--words", " , ", "--out", str(tmp_path / "w.safetensors")],
                            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("livecmd: error: give the words") and len(result.stderr.strip().splitlines()) == 1


def test_custom_refuses_a_voice_that_is_not_installed_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    missing = next((v for v in VOICES if not v.installed()), None)
    if missing is None:
        pytest.skip("every voice of the table is installed here")
    code, out, err = run_cli(["custom", "--words", "lights", "--voices", missing.name, "--out", str(tmp_path / "w.safetensors")], monkeypatch, capsys)
    assert code == 2 and "not installed" in err and len(err.strip().splitlines()) == 1


def test_custom_says_in_one_line_when_no_voice_can_say_a_word(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    # mbrola's Greek database lacks a diphone of "snowboy" (measured; synth skips such takes).
    voice = next(v for v in VOICES if v.name == "mbrola:mb-gr2-en")
    if not voice.installed():
        pytest.skip("mbrola-gr2 is not installed")
    code, out, err = run_cli(["custom", "--words", "snowboy", "--voices", voice.name, "--out", str(tmp_path / "w.safetensors")], monkeypatch, capsys)
    assert code == 2 and "no installed voice could say 'snowboy'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "w.safetensors").exists()


def test_custom_refuses_a_missing_negatives_folder_in_one_line_before_synthesizing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["custom", "--words", "lights", "--negatives", str(tmp_path / "nowhere"), "--out", str(tmp_path / "w.safetensors")],
                             monkeypatch, capsys)
    assert code == 2 and "negatives folder" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "w.safetensors").exists()


def _tone(path: Path, freq: float, seconds: float = 2.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    sf.write(path, (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SAMPLE_RATE)
    return path


def test_custom_negatives_train_voices_as_unknown_and_music_as_silence(tmp_path: Path) -> None:
    _tone(tmp_path / "neg" / "music" / "track.wav", 300.0)
    _tone(tmp_path / "neg" / "speech" / "talk.wav", 700.0)
    (tmp_path / "neg" / "music" / "broken.wav").write_bytes(b"RIFF, but no audio")
    quiet, talk, skipped, tune = negative_recordings([tmp_path / "neg"], seed=0)
    assert (len(quiet), len(talk), skipped, tune) == (1, 1, 1, [])
    # listen is tuned on recordings training did not take: here, past 3 s of each kind
    for k in range(3):
        _tone(tmp_path / "more" / "music" / f"track{k}.wav", 300.0)
    trained, _, _, tune = negative_recordings([tmp_path / "more"], seed=0, hours=3 / 3600, tune_hours=1 / 3600)
    assert (len(trained), len(tune)) == (2, 1) and tune[0].kind == "music"
    word = np.zeros(SAMPLE_RATE, dtype=np.float32)
    word[4000:10000] = 0.5 * np.sin(2 * np.pi * 1500 * np.arange(6000) / SAMPLE_RATE)
    labels = ("lights", UNKNOWN, SILENCE)
    sources = Sources(labels, {"lights": [word]}, [], [], quiet, [], word, 1, talk)
    drawn = windows(sources, seed=0)
    dominant: dict[str, list[float]] = {label: [] for label in labels}
    words_over_music = 0
    for _ in range(3000):
        wave, k = next(drawn)
        if np.sqrt(np.mean(wave**2)) > 1e-3:  # not the near-digital silences
            spectrum = np.abs(np.fft.rfft(wave))  # 1-Hz bins
            dominant[labels[k]].append(float(np.argmax(spectrum)))
            words_over_music += labels[k] == "lights" and spectrum[300] > 0.05 * spectrum[1500]
    near = lambda freqs, f: sum(abs(x - f) < 5 for x in freqs)  # noqa: E731
    assert near(dominant[UNKNOWN], 700) > 200 and near(dominant[SILENCE], 700) == 0  # talk: _unknown_, never _silence_
    assert near(dominant[SILENCE], 300) > 200 and near(dominant["lights"], 700) == 0  # music: _silence_
    assert words_over_music > 100  # and the words are mixed over the music


def test_custom_speed_changes_the_words_pitch_but_not_a_cut_words() -> None:
    """--speed plays words 1 +/- P times as fast (a 1500-Hz word lands within 15% of it, and
    varies); a word cut by the window's edge keeps its place and so its own pitch."""
    word = np.zeros(SAMPLE_RATE, dtype=np.float32)
    word[4000:10000] = 0.5 * np.sin(2 * np.pi * 1500 * np.arange(6000) / SAMPLE_RATE)
    labels = ("lights", UNKNOWN, SILENCE)
    peaks: dict[float, dict[str, list[float]]] = {}
    for speed in (0.0, 0.15):
        sources = Sources(labels, {"lights": [word]}, [], [], [np.zeros(3 * SAMPLE_RATE, np.float32)], [], word, 1)  # silent noise
        drawn = windows(sources, seed=0, speed=speed)
        peaks[speed] = {label: [] for label in labels}
        for _ in range(400):
            wave, k = next(drawn)
            if np.sqrt(np.mean(wave**2)) > 1e-3:
                peaks[speed][labels[k]].append(float(np.argmax(np.abs(np.fft.rfft(wave)))))
    assert all(abs(f - 1500) < 5 for f in peaks[0.0]["lights"])
    sped = peaks[0.15]["lights"]
    assert all(1500 * 0.85 - 5 < f < 1500 * 1.15 + 5 for f in sped)
    assert min(sped) < 1400 and max(sped) > 1600
    assert len(peaks[0.15][UNKNOWN]) > 20 and all(abs(f - 1500) < 5 for f in peaks[0.15][UNKNOWN])


def test_custom_room_puts_every_window_in_a_room_at_its_own_level() -> None:
    """With `room`, the same draw of windows as without, each then through
    `room_and_microphone` at its own level (the word quiet enough not to clip): words, other
    words and silences alike, so that a room's tail is a cue for no label."""
    word = np.zeros(SAMPLE_RATE, dtype=np.float32)
    word[4000:10000] = 0.1 * np.sin(2 * np.pi * 1500 * np.arange(6000) / SAMPLE_RATE)
    labels = ("lights", UNKNOWN, SILENCE)
    sources = Sources(labels, {"lights": [word]}, [word[::-1].copy()], [], [np.random.default_rng(5).normal(0, 0.05, 3 * SAMPLE_RATE).astype(np.float32)], [], word, 1)
    dry, wet = windows(sources, seed=0), windows(sources, seed=0, room=1.0)
    changed = {label: 0 for label in labels}
    for _ in range(300):
        (a, k), (b, j) = next(dry), next(wet)
        assert k == j
        changed[labels[k]] += not np.array_equal(a, b)
        assert np.sqrt(np.mean(b**2)) == pytest.approx(np.sqrt(np.mean(a**2)), rel=0.01)
    assert changed["lights"] > 50 and changed[UNKNOWN] > 50 and changed[SILENCE] > 20


def test_a_quieter_tuning_names_the_louder_setting_with_both_talk_figures() -> None:
    """The tuning takes the setting furthest under the negatives' budgets, which costs real voices:
    custom's last line names 0.8 without a hold and its talk an hour beside the tuned one's."""
    def row(threshold: float, hold_ms: float, talk: float, **more: object) -> dict[str, object]:
        return {"threshold": threshold, "hold_ms": hold_ms, "per_hour": {"speech": talk, "music": 0.0}, **more}

    rows = [row(t, h, talk) for t, h, talk in ((0.8, 0.0, 24.9), (0.95, 200.0, 0.0), (0.7, 0.0, 31.2))]
    line = louder(rows[1], rows, Path("w.safetensors"))
    assert "`livecmd listen --weights w.safetensors --threshold 0.8 --hold-ms 0`" in line and "25 an hour on the tuning's talk against 0 as tuned" in line
    assert "against 10 as tuned" in louder(row(0.8, 0.0, 9.8, thresholds={"snowboy": 0.9}), rows, Path("w"))  # a word raised: quieter
    assert louder(rows[0], rows, Path("w")) == "" and louder(rows[2], rows, Path("w")) == ""  # as loud or louder already
    bare = [{"threshold": r["threshold"], "hold_ms": r["hold_ms"]} for r in rows]  # no negatives: no cost to name
    assert louder(bare[1], bare, Path("w")) == ""
    # louder() reads its setting's row from the tuning's grid: a grid without it would name nothing.
    assert LOUDER[0] in THRESHOLDS and LOUDER[1] in HOLDS_MS


def test_a_phrase_too_long_for_the_window_is_warned_of_and_a_word_is_not(tmp_path: Path) -> None:
    """People say a phrase about a quarter slower than the voices: one the voices take most of a
    second to say, people say past listen's 1-s window, where the real recordings were missed."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install -y espeak-ng)")
    from rich.console import Console

    from train.custom import _synthesize, long_phrases

    long = "turn on the kitchen lights please"
    spoken = _synthesize(tmp_path, ["lights", long], [v for v in VOICES if v.name == VOICE], 3, 0, Console(quiet=True))
    assert all(len(clips) == 3 for clips in spoken.values())
    lines = long_phrases(spoken)
    assert len(lines) == 1 and lines[0].startswith(f"{long!r} takes the voices 0.9") and "s or more to say" in lines[0]
    assert long_phrases({"lights": spoken["lights"], "nothing said": []}) == []


def test_phrases_become_labels_with_underscores() -> None:
    assert [(p.text, p.label) for p in parse_phrases(" Lights, smart   mirror ,lights")] == [("lights", "lights"), ("smart mirror", "smart_mirror")]


def test_kept_apart_voices_are_whole_speakers() -> None:
    voices = [v for v in VOICES if v.engine.name in ("mbrola", "festival", "flite")]
    train, kept = split_voices(voices, 0.2, seed=0)
    assert kept and train and set(train) | set(kept) == set(voices)
    assert not {v.speaker for v in train} & {v.speaker for v in kept}  # festival us1_mbrola goes with mbrola us1


def test_custom_labels_fire_even_when_they_are_speech_commands_filler_words() -> None:
    """listen fires every label but _unknown_ and _silence_ of a custom list, whatever the word:
    a rule that silences Speech Commands' filler words must key on the stock label lists."""
    from livecmd.stream.decide import DecideSettings, Decider

    labels = ("house", "marvin", UNKNOWN, SILENCE)
    decider = Decider(DecideSettings(labels, (0.5,) * 4, smooth_windows=1, refractory=0, multi_label=False, sample_rate=SAMPLE_RATE))
    scores = np.array([[0.9, 0.0, 0.1, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0, 0.9, 0.1, 0.0], [0.0, 0.0, 0.9, 0.1]], np.float32)
    _, events = decider.update(np.arange(1, 5) * 1600, scores)
    assert [e.label for e in events] == ["house", "marvin"]


def test_real_other_words_leave_out_the_users_words_from_unknown_folders(tmp_path: Path) -> None:
    """The 12-class test set keeps `eight` and `house` in `_unknown_/eight_<speaker>_nohash_0.wav`:
    a user's `eight` must not come back as an `_unknown_` clip to train and tune on."""
    from train.custom import REAL_UNKNOWN, real_other_words

    root = tmp_path / REAL_UNKNOWN[1]
    names = {"eight": ["a_nohash_0.wav"], "sheila": ["b_nohash_0.wav"], UNKNOWN: ["eight_c_nohash_0.wav", "eighteen_d_nohash_0.wav", "house_e_nohash_0.wav"]}
    for folder, files in names.items():
        (root / folder).mkdir(parents=True)
        for name in files:
            sf.write(root / folder / name, np.zeros(1600, np.float32), SAMPLE_RATE)
    found = sorted(f"{p.parent.name}/{p.name}" for p in real_other_words(tmp_path, ("eight", "smart_mirror")))
    assert found == ["_unknown_/eighteen_d_nohash_0.wav", "_unknown_/house_e_nohash_0.wav", "sheila/b_nohash_0.wav"]


def test_custom_ends_as_the_mean_of_its_epochs_with_batch_norm_statistics_of_its_own() -> None:
    """fit_top's result is the element-wise mean of the epochs it averages (the same seed replays
    them one at a time), and the trained layers' batch-norm statistics are those of the mean over
    every training window, not the epochs' averaged."""
    from rich.console import Console

    from train.custom import fit_top, start_model, top_logits, trunk_features

    rng = np.random.default_rng(0)
    base = start_model(None, 3)
    frozen = len(base.layers) - 1
    x = trunk_features(base, frozen, (rng.standard_normal((48, SAMPLE_RATE)) * 0.1).astype(np.float32))
    y = torch.tensor(rng.integers(0, 3, len(x)))
    console = Console(quiet=True)

    def fitted(epochs: int, average_from: float) -> tuple[dict, dict]:
        model = start_model(None, 3)
        result = fit_top(model, frozen, (x, y), None, 1e9, console, seed=0, max_epochs=epochs, average_from=average_from)
        return result, {k: v.clone() for k, v in model.state_dict().items()}

    epochs = [fitted(n, 1.0)[1] for n in (1, 2, 3)]  # no mean: the last epoch of each
    result, mean = fitted(3, 0.0)
    assert (result["epochs"], result["averaged"], fitted(3, 1.0)[0]["averaged"]) == (3, 3, 1)
    conv = f"layers.{frozen}.0.weight"
    torch.testing.assert_close(mean[conv], torch.stack([e[conv] for e in epochs]).mean(0))
    assert not torch.allclose(mean[conv], epochs[-1][conv])
    model = start_model(None, 3)
    model.load_state_dict(mean)
    block = model.layers[frozen]
    with torch.no_grad():
        before_norm = block[0](x.float())  # the conv's output over every window
    torch.testing.assert_close(mean[f"layers.{frozen}.1.running_mean"], before_norm.mean(dim=(0, 2)), rtol=1e-4, atol=1e-5)
    averaged_stats = torch.stack([e[f"layers.{frozen}.1.running_mean"] for e in epochs]).mean(0)
    assert not torch.allclose(mean[f"layers.{frozen}.1.running_mean"], averaged_stats, rtol=1e-3, atol=1e-4)
    assert top_logits(model.eval(), frozen, x[:4]).shape == (4, 3)
