"""Merge several Speech Commands-style folders into one 12-class-layout folder of links.

The shipped speech model trains on real clips (the official 12-class test-set layout), on the
v0.01 release sample and on `livecmd synth` output at once. `livecmd train` reads one folder, so
this writes one: `OUT/<label>/...` for the 12 test labels, each file a symbolic link to its
source. A word folder that is not one of the ten commands goes to `_unknown_`, its files
renamed `WORD_SPEAKER_nohash_N.wav` as in the official test set (the speaker id survives, so
the speaker-based validation split still keeps each speaker on one side). Release-layout
`_background_noise_` recordings are cut into 1-s `_silence_` clips (written, not linked). Clips may be WAV or FLAC.

`--max-per-word N` balances uneven sources: at most N clips of each word folder of each source
(a fixed random draw), so that a source with 600 `left`s and 5 `yes`es does not tilt the model.

    python -m train.merge OUT SOURCE [SOURCE ...] [--max-per-word N]
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from livecmd import audio
from livecmd.domains import SILENCE, UNKNOWN, get_domain
from livecmd.errors import LivecmdError

NOISE_FOLDER = "_background_noise_"


CLIP_SUFFIXES = (".wav", ".flac")


def taken(folder: Path, max_per_word: int | None = None) -> list[Path]:
    """The clips of one word folder that `merge` links: all, or a fixed random draw of
    `max_per_word` (seeded by the source's and the folder's names, so the same on every machine;
    benchmarks use it to score only the clips a model merged this way never trained on)."""
    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in CLIP_SUFFIXES)
    if max_per_word is not None and len(clips) > max_per_word:
        clips = sorted(random.Random(f"{folder.parent.name}/{folder.name}").sample(clips, max_per_word))
    return clips


@dataclass(frozen=True)
class Merged:
    """Clips per label in the merged folder, and the clips left out because a clip of another
    source already holds their name there (the v0.01 and v0.02 releases name a speaker's takes
    alike; so do two `livecmd synth` runs)."""

    counts: dict[str, int]
    clashes: int


def merge(out: Path, sources: list[Path], max_per_word: int | None = None) -> Merged:
    """Link every clip of `sources` (at most `max_per_word` of each word folder of each source)
    into `out` in the 12-class layout. A name already linked to another file keeps its first
    clip: the clash is counted, not hidden, so that a second synth run merged under the same
    names is seen to add nothing. Merging again into `out` links nothing twice."""
    domain = get_domain("speech")
    out.mkdir(parents=True, exist_ok=True)
    counts = dict.fromkeys(domain.test_labels, 0)
    clashes = 0
    for label in counts:
        (out / label).mkdir(exist_ok=True)
    for source in sources:
        if not source.is_dir():
            raise LivecmdError(f"merge source {source} is not a folder")
        for folder in sorted(p for p in source.iterdir() if p.is_dir()):
            if folder.name == NOISE_FOLDER:
                counts[SILENCE] += _cut_noise(folder, out / SILENCE, domain.sample_rate)
                continue
            label = folder.name if folder.name in counts else UNKNOWN
            for clip in taken(folder, max_per_word):
                name = clip.name if label == folder.name else f"{folder.name}_{clip.name}"
                link = out / label / name
                if not (link.is_symlink() or link.exists()):
                    link.symlink_to(clip.resolve())
                elif link.resolve() != clip.resolve():
                    clashes += 1
                    continue
                counts[label] += 1
    return Merged(counts, clashes)


def _cut_noise(folder: Path, dest: Path, rate: int) -> int:
    """1-s clips of each background recording, 16-bit like the official `_silence_` clips."""
    written = 0
    for recording in sorted(folder.glob("*.wav")):
        wave = audio.load(recording, rate)
        for i in range(len(wave) // rate):
            path = dest / f"{recording.stem}_{i:03d}.wav"
            if not path.exists():
                sf.write(path, np.clip(wave[i * rate : (i + 1) * rate], -1, 1), rate, subtype="PCM_16")
            written += 1
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("sources", type=Path, nargs="+")
    parser.add_argument("--max-per-word", type=int, default=None)
    args = parser.parse_args()
    merged = merge(args.out, args.sources, args.max_per_word)
    print(merged.counts)
    if merged.clashes:
        print(f"{merged.clashes} clips left out: a clip of an earlier source holds their name")
