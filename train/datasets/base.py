"""What every dataset indexer returns: labelled clips in train / valid / test splits.

An indexer only reads the layout (folders, lists, CSVs) and checks which files exist; audio is
decoded once later, into the cache (train/cache.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from livecmd.domains import Domain
from livecmd.errors import LivecmdError

SPLITS = ("train", "valid", "test")
TRAIN_SPLITS = {"train": ("train",), "train+test": ("train", "test")}
"""`--train-splits` choices: the splits training reads (never valid)."""
_SALT = "livecmd-holdout:"


@dataclass(frozen=True)
class Clip:
    """One labelled example: a whole audio file, or a window of one (a `_silence_` cut from a
    long background-noise recording).

    `start` and `length` are in samples at the domain's sample rate (16 kHz), counted in the
    decoded file; `length=None` means to the end of the file.
    """

    path: Path
    labels: tuple[str, ...]
    start: int = 0
    length: int | None = None


@dataclass(frozen=True)
class Index:
    """A dataset folder as read by its indexer.

    `labels` are the classes a model trained on this data outputs, in order. `missing` counts
    clips the layout names whose files are absent; `broken` counts files found unreadable while
    indexing (most broken files are found later, when decoding). `dropped` counts clips left out
    on purpose (MagnaTagATune clips with none of the top-50 tags). `noise` holds the stretches of
    background recordings speech augmentation mixes in (empty for the other domains): training
    reads only these, never the stretches that valid and test `_silence_` clips are cut from.
    """

    domain: Domain
    root: Path
    layout: str
    labels: tuple[str, ...]
    splits: dict[str, tuple[Clip, ...]]
    missing: int = 0
    broken: int = 0
    dropped: int = 0
    noise: tuple[Clip, ...] = ()

    def clips(self, split: str) -> tuple[Clip, ...]:
        if split not in SPLITS:
            raise LivecmdError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
        return self.splits.get(split, ())

    def paths(self) -> list[Path]:
        """Every file any split or the noise list reads, each once, in a stable order."""
        seen = dict.fromkeys(c.path for split in SPLITS for c in self.clips(split))
        seen.update(dict.fromkeys(c.path for c in self.noise))
        return list(seen)


def held_out(key: str, percent: float) -> bool:
    """Whether `key` (a speaker or a clip id) falls in the held-out `percent` of a stable,
    hash-based split: SHA-1 taken modulo 2^27 as a percentage, like Speech Commands' own
    `which_set`, so a speaker never lands on both sides and adding data never moves clips. The
    key is salted: Speech Commands' official test set is exactly the speakers whose unsalted
    hash falls in 10-20%, so the unsalted rule would hold out none of them."""
    buckets = 2**27
    value = int(hashlib.sha1(f"{_SALT}{key}".encode("utf-8")).hexdigest(), 16) % buckets
    return value * 100.0 / (buckets - 1) < percent


def no_layout(domain: Domain, root: Path, layouts: tuple[str, ...]) -> LivecmdError:
    """The user error for a folder that matches none of a domain's layouts."""
    expected = " or ".join(layouts)
    return LivecmdError(f"{root} is not a {domain.dataset} folder: expected {expected}")
