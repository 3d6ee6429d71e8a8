"""The one Dataset every domain trains and scores with: windows read from the decoded cache."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from livecmd import audio
from livecmd.domains import SILENCE, UNKNOWN
from train.augment import Augmentation, augment, cut_word
from train.cache import ClipCache
from train.datasets.base import Clip

EPOCH_WINDOWS = ("random", "all")
"""Training windows per clip per epoch: one at a random offset, or every scoring segment."""


class Windows(Dataset):
    """Model inputs cut from decoded clips.

    Training (`train=True`), `epoch_windows="random"`: one window of `window` samples per clip
    per epoch, at a random offset in clips longer than that (zero-padded at the end when
    shorter); `epoch_windows="all"`: every one of the clip's `segments` scoring windows per epoch
    (item i is segment i % segments of clip i // segments), as the paper's authors trained on
    MagnaTagATune and DCASE, so that an epoch is their epoch and patience counts the same. Augmented when
    `augmentation` is given (its `cut_words` share of the words cut by the window's edge and
    labelled `_unknown_`, for label lists that have it); an item is (window (samples,),
    target), the target being the label index (multi-class) or a float 0/1 vector over `labels`
    (multi-label). With `backgrounds` (long negative recordings: music, speech), half of the
    augmented windows mix in a random stretch of one of them instead of the background noise, so
    that commands are learnt over music and other voices too.
    Scoring (`train=False`): `segments` evenly spaced windows per clip, whose scores the caller
    averages into the clip's score (the paper's test procedure); an item is (segments, samples).

    Randomness is drawn from (seed, epoch, item), so an epoch reads the same windows whichever
    worker or rank reads them, and again after a resume. Set `epoch` before each epoch.
    """

    def __init__(
        self,
        cache: ClipCache,
        clips: Sequence[Clip],
        window: int,
        *,
        labels: Sequence[str] = (),
        multi_label: bool = False,
        train: bool = False,
        segments: int = 1,
        seed: int = 0,
        augmentation: Augmentation | None = None,
        noise: Sequence[Clip] = (),
        epoch_windows: str = "random",
        backgrounds: Sequence[Path] = (),
    ):
        self.cache = cache
        self.clips = list(clips)
        self.window = window
        self.train = train
        self.segments = segments
        self.seed = seed
        self.augmentation = augmentation
        self.noise = [c for c in noise if c.path in cache]
        self.backgrounds = [p for p in backgrounds if p in cache and cache.samples(p) >= window]
        self.epoch = 0
        if epoch_windows not in EPOCH_WINDOWS:
            raise ValueError(f"epoch_windows {epoch_windows!r} is not one of {EPOCH_WINDOWS}")
        self.per_clip = segments if train and epoch_windows == "all" else 1  # training items per clip
        self.targets = _targets(self.clips, labels, multi_label) if train else None
        # Cut words are trained as _unknown_: only a multi-class label list with one has a place for them.
        self._unknown = labels.index(UNKNOWN) if not multi_label and UNKNOWN in labels else None
        self._silence = labels.index(SILENCE) if SILENCE in labels else None
        self._noises: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.clips) * self.per_clip

    def __getitem__(self, i: int):
        clip_index, segment = divmod(i, self.per_clip)
        clip = self.clips[clip_index]
        if not self.train:
            return torch.from_numpy(audio.segments(_read(self.cache, clip), self.window, self.segments))
        rng = np.random.default_rng([self.seed, self.epoch, i])
        # Only the window is read: a negative recording may be an hour long.
        length = (self.cache.samples(clip.path) - clip.start) if clip.length is None else clip.length
        if self.per_clip > 1 and length > self.window:
            start = int(audio.segment_starts(length, self.window, self.segments)[segment])
            x = self.cache.part(clip.path, clip.start + start, self.window)
        elif length > self.window:
            start = int(rng.integers(0, length - self.window + 1))
            x = self.cache.part(clip.path, clip.start + start, self.window)
        else:
            x = audio.fit(_read(self.cache, clip), self.window)
        target = self.targets[clip_index]
        if self.augmentation is not None:
            if self._noises is None:  # once per process: a few long recordings
                self._noises = [_read(self.cache, c) for c in self.noise]
            settings = self.augmentation
            if settings.cut_words and self._unknown is not None and int(target) != self._silence and rng.random() < settings.cut_words:
                # no shift or speed change after the cut: either would move the part left back into the window
                x, target, settings = cut_word(x, rng), torch.tensor(self._unknown), replace(settings, max_shift=0.0, speed=0.0)
            noises = self._noises
            if self.backgrounds and rng.random() < 0.5:  # drawn only with backgrounds: older runs keep their draws
                path = self.backgrounds[int(rng.integers(len(self.backgrounds)))]
                noises = [self.cache.part(path, int(rng.integers(0, self.cache.samples(path) - self.window + 1)), self.window)]
            x = augment(x, rng, noises, settings)
        return torch.from_numpy(x), target


def _read(cache: ClipCache, clip: Clip) -> np.ndarray:
    """The samples of `clip`: its file, or its stretch of the file."""
    wave = cache.wave(clip.path)
    return wave[clip.start : None if clip.length is None else clip.start + clip.length]


def _targets(clips: Sequence[Clip], labels: Sequence[str], multi_label: bool) -> torch.Tensor:
    position = {label: k for k, label in enumerate(labels)}
    if not multi_label:
        return torch.tensor([position[c.labels[0]] for c in clips], dtype=torch.long)
    hot = torch.zeros(len(clips), len(labels))
    for row, clip in enumerate(clips):
        for label in clip.labels:
            hot[row, position[label]] = 1.0
    return hot
