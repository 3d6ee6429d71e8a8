"""Speech Commands (v0.01 and v0.02) in its two real layouts.

Release layout (`speech_commands_v0.0x.tar.gz`): one folder per word, `validation_list.txt`
and `testing_list.txt` (relative paths), every other clip is a training clip, and six long
`_background_noise_` recordings. The paper trains on every word plus `_silence_` (31 classes for
v0.01's 30 words, 36 for v0.02's 35) and scores the 12 test classes, where every other word is
`_unknown_`.

12-class test-set layout (`speech_commands_test_set_v0.0x`): one folder per test label,
`_silence_` and `_unknown_` included. Evaluated as is; trainable too, with a held-out 10% of
speakers (hash of the speaker id, as Speech Commands' own `which_set` splits) as validation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from livecmd.domains import SILENCE, SPEECH_COMMANDS, UNKNOWN, get_domain
from train.datasets.base import Clip, Index, held_out, no_layout

LAYOUTS = (
    "the Speech Commands release layout (one folder per word, validation_list.txt, "
    "testing_list.txt, _background_noise_/)",
    "the 12-class test-set layout (yes/ ... go/, _silence_/, _unknown_/)",
)
NOISE_FOLDER = "_background_noise_"
CLIP_SECONDS = 1  # every Speech Commands clip is at most 1 s; silence is cut in 1-s pieces
VALID_PERCENT = 10.0  # speakers held out when training on the 12-class layout
NOISE_STRETCHES = {"train": (0.0, 0.8), "valid": (0.8, 0.9), "test": (0.9, 1.0)}
"""Release layout: the part of each background recording (fractions of its length) that a
split's `_silence_` clips come from. Training (its silence windows and the noise augmentation
mixes in) never reads the stretches valid and test are cut from, as it never hears their words'
speakers; every split still hears all six kinds of noise."""
_SILENCE_SEEDS = {"valid": 1, "test": 2}  # fixed cuts, so scores are comparable between runs


def index(root: Path) -> Index:
    """Index a Speech Commands folder in either layout; a user error if it is neither."""
    domain = get_domain("speech")
    if (root / "validation_list.txt").is_file() and (root / "testing_list.txt").is_file():
        return _release(root)
    if (root / SILENCE).is_dir() and (root / UNKNOWN).is_dir():
        return _twelve_class(root)
    raise no_layout(domain, root, LAYOUTS)


def scoring_label(label: str) -> str:
    """The 12-class test label of a word, `_silence_` or `_unknown_`: a word that is not one
    of the ten commands is `_unknown_`."""
    return label if label in SPEECH_COMMANDS or label in (SILENCE, UNKNOWN) else UNKNOWN


def speaker(path: Path) -> str:
    """The speaker id of a clip: the part of the name before `_nohash_`, without the word
    prefix that the 12-class `_unknown_` folder adds (`backward_0cb74144_nohash_2.wav.wav`).
    A name without `_nohash_` (a `_silence_` clip) is its own key."""
    name = path.name
    if "_nohash_" not in name:
        return path.stem
    return name.split("_nohash_")[0].rsplit("_", 1)[-1]


def _release(root: Path) -> Index:
    domain = get_domain("speech")
    noise_dir = root / NOISE_FOLDER
    noise_files = sorted(noise_dir.glob("*.wav")) if noise_dir.is_dir() else []
    if not noise_files:
        raise no_layout(domain, root, LAYOUTS[:1])
    noise, lengths, broken = [], [], 0
    for path in noise_files:
        try:
            info = sf.info(path)
        except Exception:  # libsndfile's several error types: an unreadable recording
            broken += 1
            continue
        noise.append(path)
        lengths.append(info.frames * domain.sample_rate // info.samplerate)

    words = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(("_", ".")))
    listed = {split: _read_list(root / name) for split, name in (("valid", "validation_list.txt"), ("test", "testing_list.txt"))}
    on_disk = {f"{w}/{p.name}": p for w in words for p in sorted((root / w).glob("*.wav"))}
    missing = len((listed["valid"] | listed["test"]) - on_disk.keys())

    splits: dict[str, list[Clip]] = {"train": [], "valid": [], "test": []}
    for rel, path in on_disk.items():
        split = "valid" if rel in listed["valid"] else "test" if rel in listed["test"] else "train"
        splits[split].append(Clip(path, (rel.split("/")[0],)))

    # _silence_: about as many clips as an average word has in the split, from the split's own
    # stretch of each recording. Training reads a random 1-s window of its stretch each time;
    # valid and test use fixed cuts.
    window = CLIP_SECONDS * domain.sample_rate
    stretches = {split: [_stretch(n, NOISE_STRETCHES[split]) for n in lengths] for split in splits}
    for split, clips in splits.items():
        count = max(1, round(len(clips) / max(1, len(words))))
        if split == "train":
            clips += [Clip(noise[i % len(noise)], (SILENCE,), *stretches["train"][i % len(noise)]) for i in range(count)]
            continue
        rng = np.random.default_rng(_SILENCE_SEEDS[split])
        for i in range(count):
            k = i % len(noise)
            first, length = stretches[split][k]
            start = first + int(rng.integers(0, max(1, length - window + 1)))
            clips.append(Clip(noise[k], (SILENCE,), start, min(window, length)))
    return Index(
        domain=domain,
        root=root,
        layout=f"Speech Commands release layout ({len(words)} words + {SILENCE})",
        labels=tuple(words) + (SILENCE,),
        splits={k: tuple(v) for k, v in splits.items()},
        missing=missing,
        broken=broken,
        noise=tuple(Clip(path, (SILENCE,), *stretch) for path, stretch in zip(noise, stretches["train"])),
    )


def _twelve_class(root: Path) -> Index:
    domain = get_domain("speech")
    labels = tuple(label for label in domain.test_labels if (root / label).is_dir())
    train: list[Clip] = []
    valid: list[Clip] = []
    for label in labels:
        for path in sorted(p for p in (root / label).iterdir() if p.suffix.lower() in (".wav", ".flac")):
            (valid if held_out(speaker(path), VALID_PERCENT) else train).append(Clip(path, (label,)))
    return Index(
        domain=domain,
        root=root,
        layout=f"Speech Commands 12-class test-set layout ({VALID_PERCENT:g}% of speakers held out as valid; test = every clip)",
        labels=labels,
        splits={"train": tuple(train), "valid": tuple(valid), "test": tuple(train + valid)},
        # The _silence_ clips are cuts of the background noise: the noise that augmentation
        # mixes in, taken from the training side only.
        noise=tuple(c for c in train if c.labels == (SILENCE,)),
    )


def _stretch(length: int, fractions: tuple[float, float]) -> tuple[int, int]:
    """(start, length) in samples of the `fractions` of a `length`-sample recording."""
    start, stop = (round(f * length) for f in fractions)
    return start, stop - start


def _read_list(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}
