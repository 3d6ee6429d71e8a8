"""Dataset indexers, one module per dataset, and the shared Dataset that reads their windows.

`index(domain, root)` reads a real dataset folder into labelled clips per split; `load` also
decodes its files into the cache (train/cache.py); `Windows` (train/datasets/windows.py) serves
model inputs from that cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from livecmd.domains import Domain, get_domain
from livecmd.errors import LivecmdError
from train import cache
from train.datasets import dcase2017, mtat, speech_commands
from train.datasets.base import SPLITS, TRAIN_SPLITS, Clip, Index

__all__ = ["SPLITS", "TRAIN_SPLITS", "Clip", "Decoded", "Index", "index", "load"]

_INDEXERS = {"speech": speech_commands.index, "mtat": mtat.index, "dcase": dcase2017.index}


def index(domain: Domain | str, root: str | Path, valid_from: str | None = None) -> Index:
    """The clips, labels and splits of the `domain` dataset at `root` (a real layout).
    `valid_from` picks the validation clips where the domain leaves a choice (`Domain.valid_from`;
    None: its default)."""
    domain = get_domain(domain) if isinstance(domain, str) else domain
    valid_from = domain.setting("valid_from", valid_from)
    root = Path(root).expanduser()
    if not root.is_dir():
        what = "is a file" if root.exists() else "does not exist"
        raise LivecmdError(f"--data {root} {what}: give the folder of a {domain.dataset} copy")
    options = {} if valid_from is None else {"valid_from": valid_from}
    return _INDEXERS[domain.name](root.resolve(), **options)


@dataclass(frozen=True)
class Decoded:
    """A dataset's index with its files decoded; `clips(split)` leaves out the broken ones."""

    index: Index
    cache: cache.ClipCache

    @property
    def broken(self) -> int:
        """Files that would not read, while indexing or while decoding."""
        return self.index.broken + sum(1 for p in self.index.paths() if p not in self.cache)

    def clips(self, split: str) -> list[Clip]:
        return [c for c in self.index.clips(split) if c.path in self.cache]

    def training_clips(self, train_splits: str) -> list[Clip]:
        """The usable clips of the splits a `--train-splits` choice trains on (TRAIN_SPLITS).
        Never a validation clip: a layout whose test split holds them (the 12-class test set's
        test is every clip) cannot train on its test split."""
        clips = [c for split in TRAIN_SPLITS[train_splits] for c in self.clips(split)]
        if set(clips) & set(self.clips("valid")):
            raise LivecmdError(f"--train-splits {train_splits}: the {self.index.layout}'s test split holds its validation clips; "
                               "train on --train-splits train")
        return clips

    def summary(self) -> str:
        """One line for people: layout, labels, usable clips per split and what was skipped."""
        ix = self.index
        counts = " / ".join(f"{len(self.clips(s)):,} {s}" for s in SPLITS)
        line = f"{ix.root}: {ix.layout}, {len(ix.labels)} labels, {counts} clips"
        line += f"; skipped {ix.missing:,} missing and {self.broken:,} broken files"
        if ix.dropped:
            line += f"; dropped {ix.dropped:,} clips with none of the labels"
        return line


def load(domain: Domain | str, root: str | Path, cache_dir: Path | None = None, workers: int = 0,
         console: Console | None = None, valid_from: str | None = None, extra: Sequence[Path] = ()) -> Decoded:
    """Index the dataset at `root` and decode all its files (once: later calls reuse the cache),
    with the `extra` files training also reads (negative recordings) in the same cache."""
    ix = index(domain, root, valid_from)
    paths = ix.paths()
    paths += [p for p in extra if p not in set(paths)]
    decoded = cache.build(paths, ix.domain.sample_rate, cache_dir, workers,
                          name=f"{ix.domain.name}-{ix.root.name}", console=console)
    return Decoded(ix, decoded)
