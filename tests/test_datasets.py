"""Dataset indexers on miniature copies of the real layouts and on the real audio in
../shared/data; the decoded-audio cache; the shared Dataset; speech augmentation."""

from __future__ import annotations

import csv
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from livecmd import audio
from livecmd.domains import SILENCE, UNKNOWN, get_domain
from livecmd.errors import LivecmdError
from tests import minidata
from tests.conftest import shared_data
from train import augment, cache
from train.datasets import Clip, index, load, mtat
from train.datasets.speech_commands import speaker, scoring_label
from train.datasets.windows import Windows

SPEECH = get_domain("speech")


def _word_paths(ix, split: str) -> set[Path]:
    return {c.path for c in ix.clips(split) if c.labels != (SILENCE,)}


# -- Speech Commands ---------------------------------------------------------------------------


def test_speech_release_splits_by_the_lists_and_cuts_silence_from_the_noise(tmp_path: Path) -> None:
    mini = minidata.speech_release(tmp_path / "sc")
    ix = index("speech", mini.root)
    assert ix.labels == ("bed", "no", "up", "yes", SILENCE)
    assert _word_paths(ix, "valid") == mini.splits["valid"]
    assert _word_paths(ix, "test") == mini.splits["test"]
    assert _word_paths(ix, "train") == mini.splits["train"] | set(mini.broken)  # broken shows when decoding
    assert all(c.labels == (c.path.parent.name,) for s in ("train", "valid", "test") for c in ix.clips(s) if c.labels != (SILENCE,))
    assert ix.missing == 1  # the listed clip that is not on disk
    noise = set((mini.root / "_background_noise_").glob("*.wav"))
    assert {c.path for c in ix.noise} == noise
    recording = 6 * SPEECH.sample_rate  # minidata's noise recordings are 6 s long
    for split in ("train", "valid", "test"):
        silence = [c for c in ix.clips(split) if c.labels == (SILENCE,)]
        assert len(silence) == round(len(_word_paths(ix, split)) / 4)  # about one word's share
        assert {c.path for c in silence} <= noise
        if split == "train":  # the first 80% of each recording: a random 1-s window each epoch
            assert all((c.start, c.length) == (0, 0.8 * recording) for c in silence)
        else:  # fixed cuts of the split's own tenth of each recording, the same every time
            low = {"valid": 0.8, "test": 0.9}[split] * recording
            assert all(low <= c.start and c.start + c.length <= low + 0.1 * recording for c in silence)
    assert index("speech", mini.root).splits == ix.splits


def _samples(clip: Clip) -> set[tuple[Path, int]]:
    return {(clip.path, s) for s in range(clip.start, clip.start + clip.length)}


def test_speech_release_training_never_reads_the_noise_valid_and_test_silence_is_cut_from(tmp_path: Path) -> None:
    mini = minidata.speech_release(tmp_path / "sc")
    ix = index("speech", mini.root)
    read_by_training = set().union(*(_samples(c) for c in ix.noise),
                                   *(_samples(c) for c in ix.clips("train") if c.labels == (SILENCE,)))
    held = set().union(*(_samples(c) for s in ("valid", "test") for c in ix.clips(s) if c.labels == (SILENCE,)))
    assert held and read_by_training and not read_by_training & held
    # and the Dataset reads only those stretches: its augmentation noise is the stretch, not the file
    decoded = load("speech", mini.root, tmp_path / "cache")
    data = Windows(decoded.cache, decoded.clips("train"), 729, labels=ix.labels, train=True,
                   augmentation=augment.Augmentation(), noise=ix.noise)
    data[0]
    stretch = ix.noise[0]
    assert np.array_equal(data._noises[0], decoded.cache.wave(stretch.path)[: stretch.length])


def _release_with_words(root: Path, words: list[str]) -> Path:
    rng = np.random.default_rng(0)
    for word in words:
        (root / word).mkdir(parents=True)
        sf.write(root / word / "0a7c2a8d_nohash_0.wav", rng.normal(0, 0.1, 1600).astype(np.float32), 16_000)
    (root / "_background_noise_").mkdir()
    sf.write(root / "_background_noise_" / "white_noise.wav", rng.normal(0, 0.1, 32_000).astype(np.float32), 16_000)
    (root / "validation_list.txt").write_text("")
    (root / "testing_list.txt").write_text("")
    return root


def test_speech_release_trains_31_classes_for_v001_and_36_for_v002(tmp_path: Path) -> None:
    v001 = [w for w in SPEECH.labels if w != SILENCE]
    v002 = v001 + ["backward", "follow", "forward", "learn", "visual"]
    assert index("speech", _release_with_words(tmp_path / "v1", v001)).labels == SPEECH.labels
    labels = index("speech", _release_with_words(tmp_path / "v2", v002)).labels
    assert len(labels) == 36 and labels[-1] == SILENCE and "visual" in labels


def test_twelve_class_test_set_is_detected_and_holds_out_whole_speakers(tmp_path: Path) -> None:
    mini = minidata.speech_twelve(tmp_path / "test_set")
    ix = index("speech", mini.root)
    assert "12-class" in ix.layout
    assert ix.labels == ("yes", "no", "up", SILENCE, UNKNOWN)
    assert {c.path for c in ix.clips("valid")} == mini.splits["valid"]
    assert {c.path for c in ix.clips("train")} == mini.splits["train"] | set(mini.broken)
    assert set(ix.clips("test")) == set(ix.clips("train")) | set(ix.clips("valid"))  # eval scores every clip
    speakers = {s: {speaker(c.path) for c in ix.clips(s) if c.labels != (SILENCE,)} for s in ("train", "valid")}
    assert speakers["valid"] and not speakers["train"] & speakers["valid"]
    assert set(ix.noise) == {c for c in ix.clips("train") if c.labels == (SILENCE,)}  # the training side's silence files only


def test_speaker_is_the_name_before_nohash_without_the_unknown_word_prefix() -> None:
    assert speaker(Path("yes/0cb74144_nohash_0.wav")) == "0cb74144"
    assert speaker(Path("_unknown_/backward_0cb74144_nohash_2.wav.wav")) == "0cb74144"
    assert speaker(Path("_silence_/1024.wav")) == "1024"


def test_words_that_are_not_commands_score_as_unknown() -> None:
    assert [scoring_label(w) for w in ("yes", "go", "bed", "visual", SILENCE, UNKNOWN)] == ["yes", "go", UNKNOWN, UNKNOWN, SILENCE, UNKNOWN]


# -- MagnaTagATune ---------------------------------------------------------------------------------


def test_mtat_keeps_the_top_tags_splits_by_folder_and_drops_untagged_clips(tmp_path: Path) -> None:
    mini = minidata.mtat(tmp_path / "mtat")
    ix = mtat.index(mini.root, top=4)
    assert set(ix.labels) == set(minidata.MTAT_TAGS)
    for split in ("valid", "test"):
        assert {c.path for c in ix.clips(split)} == mini.splits[split]
    assert {c.path for c in ix.clips("train")} == mini.splits["train"] | set(mini.broken)
    assert all(set(c.labels) == set(mini.labels[c.path]) for c in ix.clips("test"))
    assert ix.dropped == 2  # the untagged clip and the clip whose only tag is `rare`
    assert ix.missing == 1
    every = index("mtat", mini.root)  # the domain's 50: fewer columns here, so all are kept
    assert set(every.labels) == set(minidata.MTAT_TAGS) | {"rare", "unused"} and every.dropped == 1


def test_mtat_keeps_the_paper_s_tag_order_when_the_top_tags_are_the_paper_s(tmp_path: Path) -> None:
    tags = list(get_domain("mtat").labels)[::-1] + ["rarest"]
    root = tmp_path / "mtat"
    root.mkdir()
    with open(root / "annotations_final.csv", "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_ALL)
        writer.writerow(["clip_id", *tags, "mp3_path"])
        for i in range(3):  # every paper tag on 3 clips, `rarest` on one
            writer.writerow([i, *([1] * 50), int(i == 0), f"f/clip-{i}.mp3"])
    ix = index("mtat", root)
    assert ix.labels == get_domain("mtat").labels
    assert ix.missing == 3


# -- DCASE 2017 task 4 ---------------------------------------------------------------------------


def test_dcase_reads_rows_finds_audio_in_any_folder_and_holds_out_the_paper_s_share(tmp_path: Path) -> None:
    mini = minidata.dcase(tmp_path / "dcase")
    ix = index("dcase", mini.root)
    assert ix.labels == get_domain("dcase").labels
    for split in ("train", "valid", "test"):
        got = {c.path for c in ix.clips(split)} - set(mini.broken)
        assert got == mini.splits[split], split
        assert all(set(c.labels) == set(mini.labels[c.path]) for c in ix.clips(split) if c.path in mini.labels)
    assert any(len(c.labels) == 2 for c in ix.clips("train"))  # two rows, one clip
    assert ix.missing == 1


def test_dcase_takes_validation_from_an_evaluation_csv_when_asked_and_strong_label_rows(tmp_path: Path) -> None:
    mini = minidata.dcase(tmp_path / "dcase", evaluation_csv=True)
    extra = sorted(mini.splits["test"])[0]
    (mini.root / "groundtruth_strong_label_testing_set.csv").write_text(f"{extra.name}\t0.5\t3.2\tBus\n")
    ix = index("dcase", mini.root, valid_from="evaluation")
    assert {c.path for c in ix.clips("valid")} == mini.splits["valid"]
    assert {c.path for c in ix.clips("train")} - set(mini.broken) == mini.splits["train"]  # every training clip
    assert "--valid-from evaluation" in ix.layout and "evaluation_set.csv" in ix.layout
    labels = {c.path: c.labels for c in ix.clips("test")}
    assert set(labels[extra]) == set(mini.labels[extra]) | {"Bus"}


def test_dcase_split_does_not_change_when_an_evaluation_csv_appears(tmp_path: Path) -> None:
    mini = minidata.dcase(tmp_path / "dcase")
    before = index("dcase", mini.root)
    (mini.root / "evaluation_set.csv").write_text("abcdefghijk\t0.000\t10.000\tCar\n")
    after = index("dcase", mini.root)
    assert after.splits == before.splits and {c.path for c in after.clips("valid")} == mini.splits["valid"]
    assert "--valid-from holdout" in after.layout and "evaluation_set.csv not read" in after.layout
    with pytest.raises(LivecmdError, match="no evaluation or validation CSV"):
        index("dcase", minidata.dcase(tmp_path / "no-eval").root, valid_from="evaluation")
    with pytest.raises(LivecmdError, match="not a speech setting"):
        index("speech", mini.root, valid_from="holdout")


@pytest.mark.parametrize("domain", ["speech", "mtat", "dcase"])
def test_a_folder_in_no_known_layout_is_a_user_error_naming_the_layouts(tmp_path: Path, domain: str) -> None:
    (tmp_path / "photos").mkdir()
    with pytest.raises(LivecmdError) as error:
        index(domain, tmp_path / "photos")
    message = str(error.value)
    assert "\n" not in message and "expected" in message
    assert {"speech": "testing_list.txt", "mtat": "annotations_final.csv", "dcase": "training"}[domain] in message


def test_cli_reports_an_unknown_layout_in_one_line_with_exit_code_2_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    result = subprocess.run([sys.executable, "-m", "livecmd", "train", "--domain", "mtat", "--data", str(tmp_path / "photos")],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "annotations_final.csv" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()  # no empty run folder left behind


# -- the decoded-audio cache ---------------------------------------------------------------------


def test_cache_decodes_each_file_once_and_gives_back_its_samples(tmp_path: Path) -> None:
    mini = minidata.mtat(tmp_path / "mtat", per_folder=1)
    files = sorted(p for p in mini.root.rglob("*.mp3"))
    built = cache.build(files + [tmp_path / "absent.wav"], 16_000, tmp_path / "cache")
    for path in files:
        if path in mini.broken:
            assert path not in built and "cannot" in built.broken[str(path)]
        else:  # mp3 at 22.05 kHz → 16 kHz, stored as int16
            np.testing.assert_allclose(built.wave(path), audio.load(path, 16_000).clip(-1, 1), atol=1.0 / 32767)
    assert tmp_path / "absent.wav" not in built
    samples = built.folder / "samples.i16"
    stamp = samples.stat().st_mtime_ns
    again = cache.build(files + [tmp_path / "absent.wav"], 16_000, tmp_path / "cache")
    assert again.folder == built.folder and samples.stat().st_mtime_ns == stamp  # not decoded again
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.endswith(".tmp")]


def test_cache_decodes_in_worker_processes_to_the_same_samples(tmp_path: Path) -> None:
    mini = minidata.dcase(tmp_path / "dcase", train_clips=6, held=1, test_clips=2)
    files = sorted(mini.root.rglob("*.wav"))
    alone = cache.build(files, 16_000, tmp_path / "one")
    pooled = cache.build(files, 16_000, tmp_path / "two", workers=2)
    assert alone.broken.keys() == pooled.broken.keys() == {str(p) for p in mini.broken}
    for path in files:
        if path in alone:
            assert np.array_equal(alone.wave(path), pooled.wave(path))


def test_a_changed_file_gets_a_new_cache(tmp_path: Path) -> None:
    path = tmp_path / "clip.wav"
    sf.write(path, np.zeros(1600, np.float32), 16_000)
    first = cache.build([path], 16_000, tmp_path / "cache")
    sf.write(path, np.full(3200, 0.5, np.float32), 16_000)
    second = cache.build([path], 16_000, tmp_path / "cache")
    assert second.folder != first.folder and len(second.wave(path)) == 3200


def test_real_audio_of_every_kind_decodes_through_the_cache(tmp_path: Path) -> None:
    clips = sorted(shared_data("speech_commands_test_set_v0.02_part_a").glob("*/*.wav"))[::60]  # 16 kHz words, silence, unknown
    clips += sorted(shared_data("music").glob("*.mp3"))  # the real MagnaTagATune clip
    clips += sorted(shared_data("music").glob("*.ogg"))[:1]  # 22.05 kHz
    clips += sorted(shared_data("scenes/ESC50/audio").glob("*.wav"))[:1]  # 44.1 kHz
    built = cache.build(clips, 16_000, tmp_path / "cache", workers=2)
    assert not built.broken
    for path in clips:
        np.testing.assert_allclose(built.wave(path), audio.load(path).clip(-1, 1), atol=1.0 / 32767)


def test_real_speech_commands_sample_indexes_and_decodes(tmp_path: Path) -> None:
    root = shared_data("speech_commands_v0.01_sample")
    decoded = load("speech", root, tmp_path / "cache", workers=2)
    ix = decoded.index
    assert ix.labels == SPEECH.labels  # v0.01: 30 words + _silence_
    words = [c for s in ("train", "valid", "test") for c in ix.clips(s) if c.labels != (SILENCE,)]
    assert len(words) == 300 and decoded.broken == 0
    valid = set((root / "validation_list.txt").read_text().split())
    assert all(f"{c.path.parent.name}/{c.path.name}" in valid for c in ix.clips("valid") if c.labels != (SILENCE,))
    assert ix.missing == len(valid | set((root / "testing_list.txt").read_text().split())) - sum(
        1 for c in words if c not in ix.clips("train"))
    assert len(decoded.cache.wave(ix.noise[0].path)) > 60 * SPEECH.sample_rate  # the real background noise


def test_real_twelve_class_test_set_is_detected_with_its_twelve_labels() -> None:
    ix = index("speech", shared_data("speech_commands_test_set_v0.02_part_a"))
    assert ix.labels == SPEECH.test_labels
    assert len(ix.clips("test")) == 2_748  # every clip
    assert 0.05 < len(ix.clips("valid")) / len(ix.clips("test")) < 0.15  # about 10% of the speakers


# -- the shared Dataset ----------------------------------------------------------------------------


def _long_clip_cache(tmp_path: Path) -> tuple[cache.ClipCache, Path]:
    path = tmp_path / "long.wav"
    sf.write(path, np.linspace(-0.95, 0.95, 48_000, dtype=np.float32), 16_000, subtype="FLOAT")  # distinct int16 steps
    return cache.build([path], 16_000, tmp_path / "cache"), path


def test_training_windows_move_every_epoch_and_repeat_for_the_same_seed_and_epoch(tmp_path: Path) -> None:
    built, path = _long_clip_cache(tmp_path)
    data = Windows(built, [Clip(path, ("a",))], 4_000, labels=["b", "a"], train=True, seed=3)
    first, target = data[0]
    assert first.shape == (4_000,) and int(target) == 1
    assert np.array_equal(first, data[0][0])
    starts = set()
    for epoch in range(5):
        data.epoch = epoch
        x = data[0][0].numpy()
        (start,) = np.flatnonzero(built.wave(path) == x[0])
        assert np.array_equal(x, built.wave(path)[start : start + 4_000])
        starts.add(start)
    assert len(starts) == 5


def test_scoring_windows_are_the_domain_s_evenly_spaced_segments(tmp_path: Path) -> None:
    built, path = _long_clip_cache(tmp_path)
    data = Windows(built, [Clip(path, ("a",)), Clip(path, ("a",), start=100, length=2_000)], 4_000, segments=9)
    assert np.array_equal(data[0].numpy(), audio.segments(built.wave(path), 4_000, 9))
    short = data[1].numpy()  # a cut shorter than the window: padded, then repeated
    assert short.shape == (9, 4_000) and np.array_equal(short[0, :2_000], built.wave(path)[100:2_100]) and not short[0, 2_000:].any()


def test_all_epoch_windows_read_every_scoring_segment_of_every_clip_each_epoch(tmp_path: Path) -> None:
    built, path = _long_clip_cache(tmp_path)
    clips = [Clip(path, ("a",)), Clip(path, ("b",), start=100, length=20_000)]
    data = Windows(built, clips, 4_000, labels=["a", "b"], train=True, segments=9, epoch_windows="all")
    scoring = Windows(built, clips, 4_000, segments=9)
    assert len(data) == 2 * 9
    for epoch in (0, 1):
        data.epoch = epoch
        for i in range(len(data)):
            x, target = data[i]
            assert np.array_equal(x.numpy(), scoring[i // 9][i % 9].numpy()) and int(target) == i // 9
    assert len(Windows(built, clips, 4_000, labels=["a", "b"], train=True, segments=9)) == 2  # "random": one per clip


def test_each_domain_trains_as_the_paper_by_default_and_refuses_choices_it_lacks() -> None:
    assert [get_domain(d).setting("epoch_windows", None) for d in ("speech", "mtat", "dcase")] == ["random", "all", "all"]
    assert get_domain("speech").setting("train_splits", "train+test") == "train+test"
    assert get_domain("dcase").setting("valid_from", None) == "holdout" and SPEECH.setting("valid_from", None) is None
    with pytest.raises(LivecmdError, match="--train-splits 'train\\+test' is not a mtat choice: choose one of train$"):
        get_domain("mtat").setting("train_splits", "train+test")
    with pytest.raises(LivecmdError, match="--epoch-windows 'every' is not a speech choice"):
        SPEECH.setting("epoch_windows", "every")


def test_train_plus_test_trains_on_every_clip_outside_validation_and_never_on_a_validation_clip(tmp_path: Path) -> None:
    release = load("speech", minidata.speech_release(tmp_path / "sc").root, tmp_path / "cache")
    both = release.training_clips("train+test")
    assert set(both) == set(release.clips("train")) | set(release.clips("test")) and not set(both) & set(release.clips("valid"))
    assert release.training_clips("train") == release.clips("train")
    twelve = load("speech", minidata.speech_twelve(tmp_path / "twelve").root, tmp_path / "cache")  # its test is every clip
    with pytest.raises(LivecmdError, match="test split holds its validation clips"):
        twelve.training_clips("train+test")


def test_multi_label_targets_are_zero_one_vectors_over_the_labels(tmp_path: Path) -> None:
    built, path = _long_clip_cache(tmp_path)
    data = Windows(built, [Clip(path, ("Car", "Bus"))], 1_000, labels=["Bus", "Train", "Car"], multi_label=True, train=True)
    assert data[0][1].tolist() == [1.0, 0.0, 1.0]


# -- speech augmentation --------------------------------------------------------------------------


def test_time_shift_moves_the_clip_and_keeps_its_length() -> None:
    wave = np.arange(1, 11, dtype=np.float32)
    assert augment.time_shift(wave, 3).tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]
    assert augment.time_shift(wave, -2).tolist() == [3, 4, 5, 6, 7, 8, 9, 10, 0, 0]
    assert not augment.time_shift(wave, 10).any()


def test_background_noise_is_mixed_at_the_requested_snr() -> None:
    rng = np.random.default_rng(0)
    speech = (0.3 * np.sin(np.arange(16_000) / 5)).astype(np.float32)
    noise = rng.normal(0, 0.5, 16_000).astype(np.float32)
    for snr in (0.0, 10.0, 20.0):
        mixed = augment.add_noise(speech, noise, snr)
        measured = 10 * np.log10(np.mean(speech**2) / np.mean((mixed - speech) ** 2))
        assert measured == pytest.approx(snr, abs=0.01)
    assert not augment.add_noise(np.zeros(100, np.float32), noise[:100], 10.0).any()  # digital silence stays silent


def test_noise_under_talk_is_set_by_the_voice_not_by_the_pauses() -> None:
    # the same sentence with more digital silence between its words gets the same room noise
    rng = np.random.default_rng(0)
    word = (0.3 * np.sin(np.arange(8_000) / 5)).astype(np.float32)
    short, long = (np.concatenate([word, np.zeros(n, np.float32), word]) for n in (1_000, 30_000))
    for talk in (short, long):
        noise = rng.normal(0, 0.5, len(talk)).astype(np.float32)
        mixed = augment.add_noise_under_voice(talk, noise, 20.0)
        measured = 10 * np.log10(np.mean(word**2) / np.mean((mixed - talk) ** 2))
        assert measured == pytest.approx(20.0, abs=0.01)
    assert not augment.add_noise_under_voice(np.zeros(100, np.float32), noise[:100], 10.0).any()  # no voice: nothing to set the level by


def test_room_and_microphone_adds_a_decaying_tail_and_a_band_at_the_same_level() -> None:
    """A click in a room rings on for tens of milliseconds and dies out within 0.6 s; a
    microphone band takes the 30-Hz hum and the 7.9-kHz hiss out of a 1-kHz tone; the level
    stays the same (the windows' own gain draws it); at probability 0 nothing changes."""
    rng = np.random.default_rng(0)
    click = np.zeros(16_000, np.float32)
    click[1_000] = 0.5
    rang = [augment.room_and_microphone(click, rng, 1.0) for _ in range(20)]
    for wave in rang:
        assert np.sqrt(np.mean(wave**2)) == pytest.approx(np.sqrt(np.mean(click**2)), rel=1e-3)
        assert np.abs(wave[1_000 + 400 : 1_000 + 800]).max() > 1e-4  # 25-50 ms after the click: the room
        assert np.abs(wave[1_000 + 9_600 :]).max() < 1e-3 * np.abs(wave).max()  # 0.6 s on: gone
    t = np.arange(16_000) / 16_000
    tone, hum, hiss = (np.sin(2 * np.pi * f * t) for f in (1_000, 30, 7_900))
    heard = augment.room_and_microphone((0.1 * (tone + hum + hiss)).astype(np.float32), rng, 1.0)
    power = lambda f: np.abs(np.fft.rfft(heard))[f] ** 2  # noqa: E731  (1-Hz bins)
    assert power(30) < 0.05 * power(1_000) and power(7_900) < 0.05 * power(1_000)
    assert np.array_equal(augment.room_and_microphone(click, rng, 0.0), click)


def test_training_windows_go_in_a_room_when_asked_whatever_their_label(tmp_path: Path) -> None:
    """`livecmd train --room P`: the windows of words and of silence alike ring on after a click
    (with silence left dry, a room would say "not silence"), and without it they stay dry."""
    path = tmp_path / "click.wav"
    click = np.zeros(16_000, np.float32)
    click[8_000] = 0.5
    sf.write(path, click, 16_000, subtype="FLOAT")
    built = cache.build([path], 16_000, tmp_path / "cache")
    labels = ["yes", SILENCE, UNKNOWN]
    clips = [Clip(path, ("yes",)), Clip(path, (SILENCE,))] * 20
    dry = augment.Augmentation(max_shift=0.0, noise_probability=0.0, gain_db=(0.0, 0.0))
    roomed = Windows(built, clips, 16_000, labels=labels, train=True, augmentation=replace(dry, room=1.0))
    for i in range(len(clips)):
        x, target = roomed[i]
        assert int(target) == (0, 1)[i % 2]
        assert np.abs(x.numpy()[8_000 + 400 : 8_000 + 800]).max() > 1e-4  # 25-50 ms after the click: the room
    plain = Windows(built, clips, 16_000, labels=labels, train=True, augmentation=dry)
    assert all(np.abs(plain[i][0].numpy()[8_000 + 400 :]).max() == 0.0 for i in range(len(clips)))  # dry: no tail


def test_gain_scales_by_decibels_and_clips_at_full_scale() -> None:
    wave = np.array([0.1, -0.2, 0.6], np.float32)
    np.testing.assert_allclose(augment.gain(wave, -20.0), wave / 10, rtol=1e-6)
    assert augment.gain(wave, 6.0).tolist()[2] == 1.0


def test_augmentation_keeps_the_window_length_and_is_reproducible() -> None:
    wave = (0.2 * np.sin(np.arange(16_000) / 3)).astype(np.float32)
    noises = [np.random.default_rng(1).normal(0, 0.1, 50_000).astype(np.float32)]
    one = augment.augment(wave, np.random.default_rng(7), noises, augment.Augmentation())
    two = augment.augment(wave, np.random.default_rng(7), noises, augment.Augmentation())
    assert one.shape == wave.shape and np.array_equal(one, two) and not np.array_equal(one, wave)


def test_whole_word_shifts_keep_the_word_in_the_window_and_reach_both_edges() -> None:
    wave = np.zeros(16_000, np.float32)
    wave[6_080:8_960] = 0.5 * np.sin(np.arange(2_880) / 2)  # the word: 10-ms frames 38 to 55
    assert augment.word_span(wave) == (6_080, 8_960)
    quiet = augment.Augmentation(max_shift=1.0, whole_words=True, noise_probability=0.0, gain_db=(0.0, 0.0))
    rng = np.random.default_rng(0)
    spans = np.array([augment.word_span(augment.augment(wave, rng, [], quiet)) for _ in range(500)])
    kept = spans[:, 1] - spans[:, 0]
    assert (kept >= 2_880).all()  # never cut off (a shifted word may straddle one frame more)
    assert spans[:, 0].min() < 800 and spans[:, 1].max() > 15_200  # but anywhere it fits
    cutting = augment.Augmentation(max_shift=1.0, noise_probability=0.0, gain_db=(0.0, 0.0))
    assert any(np.abs(augment.augment(wave, rng, [], cutting)).sum() < np.abs(wave).sum() * 0.9 for _ in range(50))
    narrow = augment.Augmentation(max_shift=0.05, whole_words=True, noise_probability=0.0, gain_db=(0.0, 0.0))
    starts = [augment.word_span(augment.augment(wave, rng, [], narrow))[0] for _ in range(200)]
    assert 5_120 <= min(starts) and max(starts) <= 6_880  # --shift-ms still bounds it


def test_speed_changes_pitch_and_length_together_within_its_range_and_keeps_the_window() -> None:
    rate = 16_000
    wave = np.zeros(rate, np.float32)
    wave[4_000:12_000] = 0.5 * np.sin(2 * np.pi * 500 * np.arange(8_000) / rate)  # a 500-Hz "word" of 0.5 s
    rng = np.random.default_rng(0)
    settings = augment.Augmentation(max_shift=0.0, noise_probability=0.0, gain_db=(0.0, 0.0), speed=0.15)
    pitches, lengths = [], []
    for _ in range(200):
        out = augment.augment(wave, rng, [], settings)
        assert out.shape == wave.shape and out.dtype == np.float32
        start, end = augment.word_span(out)
        pitches.append(np.argmax(np.abs(np.fft.rfft(out))))  # 1-Hz bins
        lengths.append(end - start)
    pitches, lengths = np.array(pitches), np.array(lengths)
    assert 500 * 0.85 - 3 <= pitches.min() < 470 and 530 < pitches.max() <= 500 * 1.15 + 3  # both ways, within ±15%
    # played faster is shorter and higher: length × pitch stays the word's 8,000 samples × 500 Hz
    np.testing.assert_allclose(lengths * pitches, 8_000 * 500, rtol=0.04)
    assert augment.word_span(augment.augment(wave, rng, [], settings))[0] > 2_000  # the word stays in the middle
    plain = augment.Augmentation(max_shift=0.0, noise_probability=0.0, gain_db=(0.0, 0.0))
    np.testing.assert_array_equal(augment.augment(wave, rng, [], plain), wave)  # no speed: untouched


def test_a_cut_word_keeps_part_of_it_at_one_edge_of_the_window() -> None:
    wave = np.zeros(16_000, np.float32)
    wave[6_080:9_280] = 0.5 * np.sin(np.arange(3_200) / 2)  # a 3,200-sample word
    rng = np.random.default_rng(0)
    edges = set()
    for _ in range(200):
        start, end = augment.word_span(augment.cut_word(wave, rng))
        assert 0.2 * 3_200 - 320 <= end - start <= 0.6 * 3_200 + 320  # a part, not the whole
        assert start == 0 or end == 16_000
        edges.add(start == 0)
    assert edges == {True, False}  # words going out and coming in


def test_cut_words_train_as_unknown_and_leave_silence_alone(tmp_path: Path) -> None:
    path = tmp_path / "word.wav"
    word = np.zeros(16_000, np.float32)
    word[6_000:9_000] = 0.5 * np.sin(np.arange(3_000) / 2)
    sf.write(path, word, 16_000, subtype="FLOAT")
    built = cache.build([path], 16_000, tmp_path / "cache")
    labels = ["yes", SILENCE, UNKNOWN]
    clips = [Clip(path, ("yes",))] * 200 + [Clip(path, (SILENCE,))] * 200
    settings = augment.Augmentation(cut_words=0.5, noise_probability=0.0, gain_db=(0.0, 0.0))
    data = Windows(built, clips, 16_000, labels=labels, train=True, augmentation=settings)
    items = [data[i] for i in range(len(clips))]
    words = [(x.numpy(), int(t)) for x, t in items[:200]]
    cut = [x for x, t in words if t == 2]
    assert 60 < len(cut) < 140 and all(int(t) == 1 for _, t in items[200:])  # about half; silence never
    assert all(np.abs(x).sum() < 0.7 * np.abs(word).sum() for x in cut)  # only part of the word is left
    assert all(np.abs(x).sum() > 0.9 * np.abs(word).sum() for x, t in words if t == 0)
    none = Windows(built, clips[:200], 16_000, labels=labels, train=True, augmentation=augment.Augmentation(noise_probability=0.0))
    assert all(int(t) == 0 for _, t in (none[i] for i in range(200)))
