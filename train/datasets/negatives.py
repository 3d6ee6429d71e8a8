"""Negative recordings for `livecmd train --negatives DIR [DIR ...]`: long audio in which no
command is said (music, speech without commands, household noise), cut into random 1-s windows
that train as `_unknown_` or `_silence_`.

A negatives folder holds audio files at any depth; the first folder level names their kind
(`DIR/music/...`, `DIR/speech/...`; files directly in DIR take DIR's own name), as
`python -m train.recipes.negatives` writes them. Kinds with a voice in them (`speech`, `mix`)
train as `_unknown_`: a voice that says no command is what `_unknown_` means. Kinds without
(`music`, `noise`, anything else) train as `_silence_`: "nothing to do", like the background
noise `_silence_` is cut from, and they keep `_unknown_` about words.

Each epoch draws `count` windows: an equal share per folder (so a folder of a few mined hard
negatives weighs as much as hours of music: `train.mine` writes such a folder), within a folder
an equal share per kind, within a kind in proportion to each recording's length. A window is a
`Clip` of the whole recording: `Windows` picks a new random offset in it every epoch.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from livecmd.domains import SILENCE, UNKNOWN
from livecmd.errors import LivecmdError
from train.datasets.base import Clip

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3")
VOICE_KINDS = ("speech", "mix")


@dataclass(frozen=True)
class Recording:
    path: Path
    folder: Path  # the --negatives folder it was found in
    kind: str
    label: str  # _unknown_ or _silence_
    seconds: float


@dataclass(frozen=True)
class Found:
    recordings: tuple[Recording, ...]
    broken: int  # files that would not open


def find(folders: Sequence[Path]) -> Found:
    """The recordings of the negatives folders, each file once, in a stable order."""
    recordings, broken = [], 0
    for folder in folders:
        folder = Path(folder).expanduser().resolve()
        if not folder.is_dir():
            raise LivecmdError(f"negatives folder {folder} does not exist: give folders of long recordings without commands")
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        if not files:
            raise LivecmdError(f"negatives folder {folder} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
        for path in files:
            try:
                info = sf.info(path)
            except Exception:  # libsndfile's several error types: an unreadable file is skipped and counted
                broken += 1
                continue
            parts = path.relative_to(folder).parts
            kind = parts[0] if len(parts) > 1 else folder.name
            label = UNKNOWN if kind in VOICE_KINDS else SILENCE
            recordings.append(Recording(path, folder, kind, label, info.frames / info.samplerate))
    return Found(tuple(recordings), broken)


def windows(recordings: Sequence[Recording], count: int) -> list[Clip]:
    """`count` window clips spread over the recordings: equal shares per folder, then per kind,
    then in proportion to length (at least one per kind)."""
    clips: list[Clip] = []
    folders = sorted({r.folder for r in recordings})
    for folder in folders:
        in_folder = [r for r in recordings if r.folder == folder]
        kinds = sorted({r.kind for r in in_folder})
        for kind in kinds:
            group = [r for r in in_folder if r.kind == kind]
            share = max(1, round(count / len(folders) / len(kinds)))
            total = sum(r.seconds for r in group) or 1.0
            # Largest remainders, so that the kind's share is met exactly.
            exact = [share * r.seconds / total for r in group]
            counts = [int(x) for x in exact]
            for i in sorted(range(len(group)), key=lambda i: counts[i] - exact[i])[: share - sum(counts)]:
                counts[i] += 1
            clips += [Clip(r.path, (r.label,)) for r, n in zip(group, counts) for _ in range(n)]
    return clips


def draw(recordings: Sequence[Recording], hours: float | None, seed: int = 0) -> list[Recording]:
    """Of each kind, recordings in a fixed shuffled order (by path, then `seed`) up to `hours` of
    audio (all when None): the same slice of a corpus on every run, where time is short."""
    kept: list[Recording] = []
    for kind in sorted({r.kind for r in recordings}):
        group = sorted((r for r in recordings if r.kind == kind), key=lambda r: r.path)
        random.Random(seed).shuffle(group)
        total = 0.0
        for r in group:
            if hours is not None and total >= hours * 3600:
                break
            kept.append(r)
            total += r.seconds
    return kept


def summary(recordings: Sequence[Recording], windows: int, skipped: int) -> str:
    """One line for people: hours per kind, windows an epoch, files skipped."""
    hours: dict[str, float] = {}
    for r in recordings:
        hours[r.kind] = hours.get(r.kind, 0.0) + r.seconds / 3600
    kinds = ", ".join(f"{kind} {h:.1f} h" for kind, h in sorted(hours.items()))
    return f"negatives: {len(recordings):,} recordings ({kinds}), {windows:,} windows an epoch; skipped {skipped:,} unreadable files"
