"""Miniature datasets in the three real layouts, built inside tests, with learnable sounds.

Every class is a tone of its own frequency (with random phase and level, over faint noise); a
multi-label clip sums the tones of its labels. A SampleCNN separates such tones within a few
epochs even from short windows, which keeps "learns better than chance" tests in seconds on a
2-core CPU. Each builder also writes one file its layout names that is missing and one file that
is not audio (broken), as real copies have.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from livecmd.domains import SILENCE, UNKNOWN, get_domain
from train.datasets import dcase2017
from train.datasets.base import held_out

FREQUENCIES = (300.0, 560.0, 1000.0, 1800.0, 3200.0, 5600.0)  # Hz, one per class in order


def sound(label_ids: list[int], seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Faint noise plus one tone per class id (float32, `seconds` long at `rate`)."""
    n = round(seconds * rate)
    t = np.arange(n) / rate
    wave = rng.normal(0.0, 0.005, n)
    for k in label_ids:
        wave += rng.uniform(0.15, 0.3) * np.sin(2 * np.pi * FREQUENCIES[k] * t + rng.uniform(0, 2 * np.pi))
    return wave.astype(np.float32)


def write_broken(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not audio" * 20)
    return path


def speaker_ids(count: int, held: int, percent: float) -> tuple[list[str], list[str]]:
    """`count - held` speaker ids on the training side and `held` in the held-out `percent`
    of the hash split, so tiny datasets still get a validation split."""
    train, valid = [], []
    i = 0
    while len(train) < count - held or len(valid) < held:
        sid = hashlib.sha1(str(i).encode()).hexdigest()[:8]
        side = valid if held_out(sid, percent) else train
        if len(side) < (held if side is valid else count - held):
            side.append(sid)
        i += 1
    return train, valid


@dataclass
class Mini:
    """What a builder wrote, for the tests to check the indexer against."""

    root: Path
    splits: dict[str, set[Path]] = field(default_factory=dict)  # split → audio files on disk
    labels: dict[Path, tuple[str, ...]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    broken: list[Path] = field(default_factory=list)


def speech_release(root: Path, words: tuple[str, ...] = ("yes", "no", "up", "bed"), speakers: int = 12,
                   seed: int = 0) -> Mini:
    """Speech Commands release layout: word folders of 1-s clips (SPEAKER_nohash_N.wav), the
    validation/testing lists (2 speakers each), _background_noise_ (two 6-s recordings). One
    listed clip is missing; one training clip is broken."""
    rng = np.random.default_rng(seed)
    rate = get_domain("speech").sample_rate
    mini = Mini(root, {"train": set(), "valid": set(), "test": set()})
    ids = [hashlib.sha1(f"speaker{i}".encode()).hexdigest()[:8] for i in range(speakers)]
    side = {sid: "valid" if i < 2 else "test" if i < 4 else "train" for i, sid in enumerate(ids)}
    lists: dict[str, list[str]] = {"valid": [], "test": []}
    for k, word in enumerate(words):
        (root / word).mkdir(parents=True)
        for sid in ids:
            path = root / word / f"{sid}_nohash_0.wav"
            seconds = 1.0 if rng.random() < 0.8 else 0.8  # some real clips are shorter: padded
            sf.write(path, sound([k], seconds, rate, rng), rate, subtype="PCM_16")
            mini.splits[side[sid]].add(path)
            mini.labels[path] = (word,)
            if side[sid] != "train":
                lists[side[sid]].append(f"{word}/{path.name}")
    mini.missing.append(f"{words[0]}/ffffffff_nohash_0.wav")
    lists["test"].append(mini.missing[0])
    broken = write_broken(root / words[-1] / "deadbeef_nohash_0.wav")
    mini.broken.append(broken)
    (root / "validation_list.txt").write_text("\n".join(lists["valid"]) + "\n")
    (root / "testing_list.txt").write_text("\n".join(lists["test"]) + "\n")
    noise = root / "_background_noise_"
    noise.mkdir()
    sf.write(noise / "white_noise.wav", rng.normal(0, 0.02, 6 * rate).astype(np.float32), rate, subtype="PCM_16")
    sf.write(noise / "running_tap.wav", np.cumsum(rng.normal(0, 0.002, 6 * rate)).astype(np.float32) % 0.05, rate, subtype="PCM_16")
    (root / "README.md").write_text("miniature Speech Commands\n")
    return mini


def speech_twelve(root: Path, commands: tuple[str, ...] = ("yes", "no", "up"), speakers: int = 12, held: int = 3,
                  seed: int = 0) -> Mini:
    """The official 12-class test-set layout: one folder per label (`_unknown_` clips named
    WORD_SPEAKER_nohash_N.wav.wav, `_silence_` clips N.wav). One clip is broken."""
    rng = np.random.default_rng(seed)
    rate = get_domain("speech").sample_rate
    train_ids, valid_ids = speaker_ids(speakers, held, 10.0)
    mini = Mini(root, {"train": set(), "valid": set()})
    for sid in train_ids + valid_ids:
        side = "valid" if sid in valid_ids else "train"
        for k, label in enumerate(commands + (UNKNOWN,)):
            name = f"{sid}_nohash_0.wav" if label != UNKNOWN else f"bed_{sid}_nohash_1.wav.wav"
            path = root / label / name
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, sound([k], 1.0, rate, rng), rate, subtype="PCM_16")
            mini.splits[side].add(path)
            mini.labels[path] = (label,)
    (root / SILENCE).mkdir()
    for i in range(speakers):
        path = root / SILENCE / f"{1000 + i}.wav"
        sf.write(path, rng.normal(0, 0.01, rate).astype(np.float32), rate, subtype="PCM_16")
        mini.splits["valid" if held_out(path.stem, 10.0) else "train"].add(path)
        mini.labels[path] = (SILENCE,)
    mini.broken.append(write_broken(root / commands[0] / "deadbeef_nohash_0.wav"))
    return mini


MTAT_TAGS = ("guitar", "piano", "techno", "drums")  # learnable: one tone each


def mtat(root: Path, per_folder: int = 4, seed: int = 0) -> Mini:
    """MagnaTagATune layout: annotations_final.csv (tab-separated, quoted) and 3-s mp3 clips at
    22.05 kHz in folders 0, 1, ... f (train 0-b, valid c, test d-f). Tag columns: the four
    learnable tags, `rare` (one clip) and `unused`. Also one clip with no tag (dropped), one
    row whose mp3 is missing and one broken mp3."""
    rng = np.random.default_rng(seed)
    rate = 22_050
    tags = MTAT_TAGS + ("rare", "unused")
    mini = Mini(root, {"train": set(), "valid": set(), "test": set()})
    rows = []
    folders = {"train": "0123ab", "valid": "c", "test": "def"}
    clip_id = 0
    for split, chars in folders.items():
        for char in chars:
            for _ in range(per_folder if split == "train" else 2 * per_folder if split == "valid" else per_folder + 1):
                count = 1 if rng.random() < 0.6 else 2
                on = sorted(rng.choice(len(MTAT_TAGS), size=count, replace=False).tolist())
                rel = f"{char}/artist-album-{clip_id:02d}-title-0-29.mp3"
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, sound(on, 3.0, rate, rng), rate, format="MP3")
                rows.append((clip_id, [int(i in on) for i in range(len(tags))], rel))
                mini.splits[split].add(path)
                mini.labels[path] = tuple(MTAT_TAGS[i] for i in on)
                clip_id += 1
    rare = root / "1" / "artist-album-90-rare-0-29.mp3"
    sf.write(rare, sound([0], 3.0, rate, rng), rate, format="MP3")
    rows.append((90, [0, 0, 0, 0, 1, 0], "1/artist-album-90-rare-0-29.mp3"))  # only `rare`: dropped at top 4
    untagged = root / "2" / "artist-album-91-none-0-29.mp3"
    sf.write(untagged, sound([1], 3.0, rate, rng), rate, format="MP3")
    rows.append((91, [0] * len(tags), "2/artist-album-91-none-0-29.mp3"))
    mini.missing.append("e/artist-album-92-gone-0-29.mp3")
    rows.append((92, [1, 0, 0, 0, 0, 0], mini.missing[0]))
    mini.broken.append(write_broken(root / "0" / "artist-album-93-broken-0-29.mp3"))
    rows.append((93, [0, 1, 0, 0, 0, 0], "0/artist-album-93-broken-0-29.mp3"))
    header = "\t".join(f'"{v}"' for v in ("clip_id", *tags, "mp3_path"))
    lines = [header] + ["\t".join([f'"{i}"', *(f'"{m}"' for m in marks), f'"{rel}"']) for i, marks, rel in rows]
    (root / "annotations_final.csv").write_text("\n".join(lines) + "\n")
    return mini


DCASE_EVENTS = ("Car alarm", "Train horn", "Screaming", "Air horn, truck horn")  # learnable: one tone each


def dcase(root: Path, train_clips: int = 30, held: int = 4, test_clips: int = 10, evaluation_csv: bool = False,
          seed: int = 0) -> Mini:
    """DCASE 2017 task 4 layout: training_set.csv and testing_set.csv (tab-separated rows
    YTID start end label, one row per label), 2-s 44.1 kHz clips Y{YTID}_{start}_{end}.wav in
    different folders below the root. Without `evaluation_csv`, `held` training clips fall in
    the hash-held-out validation share; with it, evaluation_set.csv lists other clips, the
    validation clips of `--valid-from evaluation` (then `held` is their count). One
    row's audio is missing; one clip is broken."""
    rng = np.random.default_rng(seed)
    rate = 44_100
    mini = Mini(root, {"train": set(), "valid": set(), "test": set()})
    folders = {"train": root / "audio" / "unbalanced_train_segments", "valid": root / "audio" / "eval",
               "test": root / "testing" / "audio"}
    csvs: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    wanted = {"train": train_clips - held, "valid": held, "test": test_clips}
    i = 0
    while any(wanted.values()):
        ytid = hashlib.sha1(f"clip{i}".encode()).hexdigest()[:11].replace("a", "-")
        start = f"{10 * (i % 5)}.000"
        end = f"{10 * (i % 5) + 10}.000"
        name = f"Y{ytid}_{start}_{end}.wav"
        i += 1
        if wanted["test"]:
            split = "test"
        else:
            split = "valid" if held_out(name, dcase2017.VALID_PERCENT) else "train"
            if not wanted[split]:
                continue
        wanted[split] -= 1
        on = sorted(rng.choice(len(DCASE_EVENTS), size=1 if rng.random() < 0.6 else 2, replace=False).tolist())
        path = folders[split] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, sound(on, 2.0, rate, rng), rate, subtype="PCM_16")
        table = split if evaluation_csv or split != "valid" else "train"
        csvs[table] += [f"{ytid}\t{start}\t{end}\t{DCASE_EVENTS[k]}" for k in on]
        mini.splits[split].add(path)
        mini.labels[path] = tuple(DCASE_EVENTS[k] for k in on)
    mini.missing.append("Ygone-gone-go_30.000_40.000.wav")
    csvs["test"].append("gone-gone-go\t30.000\t40.000\tCar alarm")
    mini.broken.append(write_broken(folders["train"] / "Ybroken-brok_0.000_10.000.wav"))
    csvs["train"].append("broken-brok\t0.000\t10.000\tScreaming")
    (root / "training_set.csv").write_text("\n".join(csvs["train"]) + "\n")
    (root / "testing_set.csv").write_text("\n".join(csvs["test"]) + "\n")
    if evaluation_csv:
        (root / "evaluation_set.csv").write_text("\n".join(csvs["valid"]) + "\n")
    return mini
