"""Hard-negative mining: the windows of negative recordings that a model fires on, written as a
negatives folder that the next training stage weighs up.

    python -m train.mine WEIGHTS OUT NEGATIVES_DIR [NEGATIVES_DIR ...] [--threshold 0.3] [--most 3000]

Each recording goes through `livecmd listen --input REC --json --fast` with the weights and a
threshold below the one they ship with (so near misses count too); every event is a window the
model (nearly) fires on: the model's input window that ends at the event's time. The `most`
highest-scoring windows are written as 1-s WAV files to `OUT/<kind>/`, keeping each
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
from rich.progress import track

from livecmd import audio, weights
from train.datasets import negatives
from train.streams import detect


@dataclass(frozen=True)
class Window:
    recording: negatives.Recording
    start: int  # first sample, at the weights' sample rate
    label: str  # what the model fired
    score: float


def mine(weights_path: Path, folders: Sequence[Path], threshold: float) -> list[Window]:
    """Every window of the recordings of `folders` that listen fires on at `threshold`, best first."""
    meta = weights.read_meta(weights_path)
    found: list[Window] = []
    for recording in track(negatives.find(folders).recordings, description="mining"):
        for event in detect(recording.path, weights_path, threshold):
            end = round(event["time"] * meta.sample_rate)
            found.append(Window(recording, max(0, end - meta.input_samples), event["label"], event["score"]))
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
    args = parser.parse_args()
    meta = weights.read_meta(args.weights)
    windows = mine(args.weights, args.folders, args.threshold)
    kept = write(windows[: args.most], args.out, meta.sample_rate, meta.input_samples)
    labels: dict[str, int] = {}
    for w in windows[: args.most]:
        labels[w.label] = labels.get(w.label, 0) + 1
    print(f"{len(windows):,} windows fired at {args.threshold:g}; wrote the {kept:,} best to {args.out} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(labels.items(), key=lambda kv: -kv[1]))})")


if __name__ == "__main__":
    main()
