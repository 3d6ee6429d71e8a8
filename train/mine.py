"""Hard-negative mining: the windows of negative recordings that a model fires on, written as a
negatives folder that the next training stage weighs up.

    python -m train.mine WEIGHTS OUT NEGATIVES_DIR [NEGATIVES_DIR ...] [--threshold 0.3] [--most 3000]
        [--hop-ms 250] [--seconds 60] [--seed 0]

The model scores windows of each recording every `hop_ms` (at most `seconds` of it: a stretch
at a random offset fixed by `seed`, so that hours of music are mined in minutes on a CPU, and a
later stage mines other stretches with another seed); a window whose
highest score for a label that fires (not `_unknown_`/`_silence_`) reaches `threshold`, below
the threshold listen uses (so near misses count too), is one the model (nearly) fires on; of
overlapping ones only the best is kept. The `most` highest-scoring windows are written as 1-s WAV files to `OUT/<kind>/`, keeping each
recording's kind, so they train with the label their recording would (`train.datasets.negatives`).
Given to `livecmd train --negatives CORPUS --negatives OUT`, the mined folder gets as many
windows an epoch as the whole corpus: a few thousand windows seen as often as hours of audio.
Mine only the training part of a corpus: the benchmark part is never trained on.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from rich.progress import track

from livecmd import audio, weights
from livecmd.domains import QUIET_LABELS
from train.datasets import negatives


@dataclass(frozen=True)
class Window:
    recording: negatives.Recording
    start: int  # first sample, at the weights' sample rate
    label: str  # what the model fired
    score: float


def mine(weights_path: Path, folders: Sequence[Path], threshold: float, hop_ms: float = 250.0,
         seconds: float | None = None, batch: int = 32, seed: int = 0) -> list[Window]:
    """The windows of the recordings of `folders` that the model scores at `threshold` or more
    for a label that fires, best first, no two of one recording overlapping."""
    loaded = weights.load(weights_path)
    model, meta = loaded.model.eval(), loaded.meta
    rate, length = meta.sample_rate, meta.input_samples
    hop = round(hop_ms * rate / 1000)
    fires = torch.tensor([label not in QUIET_LABELS for label in meta.labels])
    found: list[Window] = []
    for k, recording in enumerate(track(negatives.find(folders).recordings, description="mining")):
        wave = audio.load(recording.path, rate)
        offset = 0
        if seconds is not None and len(wave) > seconds * rate:
            rng = np.random.default_rng(k if seed == 0 else (seed, k))  # seed 0: the stretches stage 4 mined
            offset = int(rng.integers(0, len(wave) - round(seconds * rate)))
            wave = wave[offset : offset + round(seconds * rate)]
        wave = audio.fit(wave, max(len(wave), length))
        starts = np.arange(0, len(wave) - length + 1, hop)
        best: list[Window] = []
        for chunk in np.array_split(starts, max(1, len(starts) // batch)):
            with torch.inference_mode():
                x = torch.from_numpy(np.stack([wave[s : s + length] for s in chunk]))
                probs = torch.softmax(model(x), dim=1).masked_fill(~fires, 0.0)
            score, label = probs.max(dim=1)
            for s, p, j in zip(chunk, score.tolist(), label.tolist()):
                if p >= threshold:
                    best.append(Window(recording, offset + int(s), meta.labels[j], p))
        # of windows that overlap, the best one
        kept: list[Window] = []
        for w in sorted(best, key=lambda w: -w.score):
            if all(abs(w.start - other.start) >= length for other in kept):
                kept.append(w)
        found += kept
    return sorted(found, key=lambda w: -w.score)


def write(windows: Sequence[Window], out: Path, sample_rate: int, length: int) -> int:
    """The windows as `OUT/<kind>/<recording>-<start ms>-<label>.wav`; returns how many."""
    shutil.rmtree(out, ignore_errors=True)
    by_recording: dict[Path, list[Window]] = {}
    for w in windows:
        by_recording.setdefault(w.recording.path, []).append(w)
    for path, group in by_recording.items():
        wave = audio.load(path, sample_rate)
        for w in group:
            folder = out / w.recording.kind
            folder.mkdir(parents=True, exist_ok=True)
            clip = audio.fit(wave[w.start : w.start + length], length)
            name = f"{path.stem}-{1000 * w.start // sample_rate:08d}-{w.label}.wav"
            sf.write(folder / name, np.clip(clip, -1, 1), sample_rate, subtype="PCM_16")
    return len(windows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--threshold", type=float, default=0.3)
    parser.add_argument("--most", type=int, default=3000)
    parser.add_argument("--hop-ms", type=float, default=250.0)
    parser.add_argument("--seconds", type=float, default=None, help="mine at most this much of each recording")
    parser.add_argument("--seed", type=int, default=0, help="which stretch of each recording --seconds takes")
    args = parser.parse_args()
    meta = weights.read_meta(args.weights)
    torch.set_num_threads(1)
    windows = mine(args.weights, args.folders, args.threshold, args.hop_ms, args.seconds, seed=args.seed)
    kept = write(windows[: args.most], args.out, meta.sample_rate, meta.input_samples)
    labels: dict[str, int] = {}
    for w in windows[: args.most]:
        labels[w.label] = labels.get(w.label, 0) + 1
    print(f"{len(windows):,} windows fired at {args.threshold:g}; wrote the {kept:,} best to {args.out} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(labels.items(), key=lambda kv: -kv[1]))})")


if __name__ == "__main__":
    main()
