"""Negative recordings in training (`livecmd train --negatives`), hard-negative mining and the
false-activation counter of benchmarks/false_alarms.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from livecmd import audio, weights
from livecmd.domains import SILENCE, UNKNOWN
from tests import minidata
from tests.conftest import load_benchmark, run_cli, shared_data
from train import streams
from train.datasets import load, negatives
from train.datasets.windows import Windows
from train.augment import word_span
from train.mine import mine, write

RATE = 16_000


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _recording(path: Path, seconds: float, seed: int, amplitude: float = 0.1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sf.write(path, (amplitude * rng.standard_normal(round(seconds * RATE))).clip(-1, 1).astype(np.float32), RATE, subtype="PCM_16")
    return path


def _corpus(root: Path) -> Path:
    _recording(root / "music" / "long.wav", 12.0, 0)
    _recording(root / "music" / "short.wav", 4.0, 1)
    _recording(root / "speech" / "talk.flac", 6.0, 2)
    _recording(root / "noise" / "hum.wav", 3.0, 3)
    minidata.write_broken(root / "music" / "broken.wav")
    return root


def test_negative_recordings_are_labelled_by_kind_and_broken_files_are_skipped(tmp_path: Path) -> None:
    found = negatives.find([_corpus(tmp_path / "neg")])
    assert found.broken == 1
    labels = {(r.kind, r.path.name): r.label for r in found.recordings}
    assert labels == {("music", "long.wav"): SILENCE, ("music", "short.wav"): SILENCE,
                      ("speech", "talk.flac"): UNKNOWN, ("noise", "hum.wav"): SILENCE}
    assert [r.seconds for r in found.recordings if r.path.name == "long.wav"] == [12.0]


def test_each_folder_and_kind_gets_an_equal_share_of_windows_and_longer_recordings_more(tmp_path: Path) -> None:
    corpus = negatives.find([_corpus(tmp_path / "neg")]).recordings
    mined = negatives.find([_recording(tmp_path / "mined" / "music" / "a.wav", 1.0, 4).parents[1]]).recordings
    clips = negatives.windows(corpus + mined, 120)
    per = {name: sum(c.path.name == name for c in clips) for name in ("long.wav", "short.wav", "talk.flac", "hum.wav", "a.wav")}
    # Two folders: 60 windows each; the corpus' three kinds 20 each, music 3:1 by length.
    assert per == {"long.wav": 15, "short.wav": 5, "talk.flac": 20, "hum.wav": 20, "a.wav": 60}
    assert {c.labels for c in clips if c.path.name == "talk.flac"} == {(UNKNOWN,)}


def test_negative_windows_move_every_epoch_and_keep_their_label(tmp_path: Path) -> None:
    mini = minidata.speech_twelve(tmp_path / "words")
    corpus = negatives.find([_corpus(tmp_path / "neg")]).recordings
    data = load("speech", mini.root, tmp_path / "cache", extra=[r.path for r in corpus])
    clips = negatives.windows(corpus, 8)
    labels = data.index.labels
    ds = Windows(data.cache, clips, 16_000, labels=labels, train=True, seed=0)
    long_clip = next(i for i, c in enumerate(clips) if c.path.name == "long.wav")
    whole = data.cache.wave(clips[long_clip].path)
    x0, y0 = ds[long_clip]
    ds.epoch = 1
    x1, _ = ds[long_clip]
    assert labels[int(y0)] == SILENCE
    assert not torch.equal(x0, x1)
    # each window is a real stretch of the recording
    for x in (x0, x1):
        start = int(np.argmin([np.abs(whole[s : s + 100] - x.numpy()[:100]).sum() for s in range(len(whole) - 16_000)]))
        np.testing.assert_allclose(whole[start : start + 16_000], x.numpy())


def test_train_with_negatives_reads_them_and_refuses_data_without_their_labels(tmp_path: Path, monkeypatch, capsys) -> None:
    mini = minidata.speech_twelve(tmp_path / "words")
    neg = _corpus(tmp_path / "neg")
    run = tmp_path / "run"
    args = ["train", "--domain", "speech", "--data", str(mini.root), "--out", str(run), "--cache", str(tmp_path / "cache"),
            "--epochs", "1", "--input-samples", "729", "--batch-size", "4", "--workers", "0", "--optimizer", "adamw",
            "--negatives", str(neg), "--negatives-share", "0.5"]
    code, out, err = run_cli(args, monkeypatch, capsys)
    assert code == 0, err
    assert "negatives: 4 recordings (music 0.0 h, noise 0.0 h, speech 0.0 h)" in out and "skipped 1 unreadable" in out
    recipe = weights.read_meta(run / "best.safetensors").extra["recipe"]
    assert recipe["negatives"] == [str(neg.resolve())] and recipe["negatives_share"] == 0.5

    release = minidata.speech_release(tmp_path / "release", words=("yes", "no"))
    code, _, err = run_cli([*args[:4], str(release.root), *args[5:6], str(tmp_path / "run2"), *args[7:]], monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--negatives" in err and "_unknown_" in err


def _word_in_quiet(path: Path, clip: Path, at_s: float, seconds: float) -> Path:
    wave = np.zeros(round(seconds * RATE), np.float32)
    word = audio.load(clip, RATE)
    start = round(at_s * RATE)
    wave[start : start + len(word)] = word
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave, RATE, subtype="PCM_16")
    return path


def test_mining_finds_the_window_the_model_fires_on_and_nothing_in_silence(tmp_path: Path) -> None:
    part_a = shared_data(streams.PART_A)
    clip = sorted((part_a / "stop").glob("*.wav"))[0]
    neg = tmp_path / "neg"
    _word_in_quiet(neg / "speech" / "talk.wav", clip, 3.0, 6.0)
    _recording(neg / "music" / "quiet.wav", 6.0, 0, amplitude=0.0)
    shipped = weights.shipped("speech")
    found = mine(shipped, [neg], 0.3)
    assert found and {w.recording.path.name for w in found} == {"talk.wav"}
    best = found[0]
    assert best.label == "stop"
    start, end = (3 * RATE + s for s in word_span(audio.load(clip, RATE)))
    # the window that fired: it ends while the word is heard or just after (listen's matching rule)
    assert start <= best.start + RATE <= end + streams.LATE_S * RATE

    written = write(found, tmp_path / "mined", RATE, RATE)
    files = sorted((tmp_path / "mined").rglob("*.wav"))
    assert written == len(files) == len(found) and files[0].parent.name == "speech"
    assert sf.info(files[0]).frames == RATE
    again = negatives.find([tmp_path / "mined"]).recordings
    assert {r.label for r in again} == {UNKNOWN}  # mined windows train with their recording's label


def test_false_activation_counter_finds_none_in_silence_and_the_words_of_a_stream(tmp_path: Path) -> None:
    part_a = shared_data(streams.PART_A)
    _recording(tmp_path / "neg" / "noise" / "silent.wav", 30.0, 0, amplitude=0.0)
    words = [(label, sorted((part_a / label).glob("*.wav"))[k]) for k, label in enumerate(("stop", "on", "go", "yes"))]
    mix, truth = streams.build(words, np.zeros(RATE, np.float32) + 1e-4, RATE, 40.0, 2.0)
    stream = tmp_path / "stream.wav"
    sf.write(stream, mix, RATE, subtype="PCM_16")
    shipped = weights.shipped("speech")
    scoring = streams.score(mix, truth, shipped, negatives.find([tmp_path / "neg"]).recordings)
    row = scoring.row(0.5, None)
    assert row["kinds"] == {"noise": {"hours": pytest.approx(30.0 / 3600), "events": []}}
    assert (row["found"], row["false"]) == (len(truth), 0)
    # one pass of the model, decided at each threshold and hold, is what listen --json prints with them
    for threshold, hold in ((0.5, None), (0.9, None), (0.99, None), (0.5, 200.0)):
        listened = [{k: e[k] for k in ("time", "label")} for e in streams.detect(stream, shipped, threshold, hold_ms=hold)]
        on_stream, _ = scoring.events(threshold, hold)
        assert [{k: e[k] for k in ("time", "label")} for e in on_stream] == listened
    assert scoring.row(0.99, None)["found"] < len(truth)  # and a high threshold does miss words
    # per-label thresholds over one for all: the stop goes, the rest stay
    on_stream, _ = scoring.events(0.5, None, {"stop": 0.9999})
    assert [e["label"] for e in on_stream] == [t["label"] for t in truth if t["label"] != "stop"]


def test_the_corpus_text_keeps_no_sentence_with_a_command_word(tmp_path: Path) -> None:
    from train.recipes.negatives import sentences

    folder = tmp_path / "usr/share/games/fortunes"
    folder.mkdir(parents=True)
    (folder / "sayings").write_text(
        "Go west, young man.\n%\nA stitch in time saves nine.  Turn it on and wait a while.\n%\n"
        "Nobody knows the trouble I have seen.\n%\nI know the goal is often upper management.\n")
    (folder / "sayings.dat").write_bytes(b"\x00binary index")
    assert sentences(tmp_path) == ["A stitch in time saves nine.", "I know the goal is often upper management.",
                                   "Nobody knows the trouble I have seen."]


def test_more_talk_is_read_by_training_voices_only() -> None:
    """train-talk/ (the corpus's extra talk) must never hold a benchmark voice: the benchmark's
    voices are the unseen ones its talk figures are measured on."""
    from train.recipes.negatives import _split, reading_voices

    every = reading_voices()
    if not every:
        pytest.skip("no offline TTS voice installed (`livecmd synth --list`)")
    train, bench = reading_voices("train"), reading_voices("bench")
    assert train and bench and sorted(v.name for v in train + bench) == sorted(v.name for v in every)
    assert {v.speaker for v in train}.isdisjoint({v.speaker for v in bench})
    assert all(_split(f"voice:{v.speaker}") == "train" for v in train)


def test_near_miss_benchmark_counts_each_take_once_and_an_event_late_after_it() -> None:
    near_misses = load_benchmark("near_misses")
    truth = [{"label": "goal", "start": 1.0, "end": 1.5}, {"label": "goal", "start": 4.0, "end": 4.5},
             {"label": "upper", "start": 7.0, "end": 7.5}]
    events = [{"label": "go", "time": 1.6}, {"label": "go", "time": 1.7}, {"label": "no", "time": 1.8},  # one take, two labels
              {"label": "go", "time": 4.5 + streams.LATE_S + 0.1},  # too late for the second goal
              {"label": "up", "time": 7.0 - near_misses.EARLY_S + 0.05}]
    counts = near_misses.fired(events, truth)
    assert counts["goal"]["said"] == 2 and counts["goal"]["any"] == 1 and counts["goal"]["labels"] == {"go": 1, "no": 1}
    assert counts["upper"] == {"said": 1, "any": 1, "labels": {"up": 1}}


def test_near_miss_benchmark_tells_a_word_heard_whole_from_one_heard_by_its_head() -> None:
    near_misses = load_benchmark("near_misses")
    from livecmd.recognizer import Recognizer

    rec = Recognizer(None, threshold=0.5, hold_ms=0)
    for take in ("0cb74144_nohash_0.wav", "0cb74144_nohash_1.wav"):
        wave = audio.load(shared_data(f"speech_commands_test_set_v0.02_part_a/yes/{take}"))
        start, end = word_span(wave)
        said_twice = np.concatenate([wave[start:end], np.zeros(1600, np.float32), wave[start:end]])
        # "yes" alone fires only with all of it in the window; "yes yes" already on its head (the first yes)
        assert near_misses.where_fired(rec, wave, 0.5, np.random.default_rng(0)) == (True, False)
        assert near_misses.where_fired(rec, said_twice, 0.5, np.random.default_rng(0)) == (True, True)
