"""Command detection on a long real stream: what `livecmd listen` finds, and how often it fires
falsely, on words of speakers the shipped model never trained on.

    python benchmarks/stream_accuracy.py [--weights W ...] [--thresholds 0.5,0.7] [--shared ../shared]

The stream (`train.streams.tuning_stream`) holds every command and `_unknown_` word of part
A's held-out speakers (the valid split of `livecmd eval`, the model card's speakers) but the
demo clip's three (so that the demo stays an independent check of settings chosen here),
shuffled with a fixed seed, 1.6 s apart over real kitchen noise at 20 dB: the demo clip's
recipe, longer. Each setting runs `livecmd listen --input STREAM --json --fast` (in this
process) and matches the events as the demo test does: a command is found when an event of its
label comes between the word's start and 1.2 s after its end; any other event is false. The
speech recipe picks the shipped model's threshold on this stream (train/recipes/ship.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from livecmd import weights  # noqa: E402
from livecmd.domains import SPEECH_COMMANDS, get_domain  # noqa: E402
from train import streams  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, action="append", help="weights to compare (default: the shipped speech weights)")
    parser.add_argument("--thresholds", default="0.5,0.6,0.7,0.8,0.9", help="comma-separated --threshold values")
    parser.add_argument("--snr-db", type=float, default=20.0)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = parser.parse_args()
    mix, truth = streams.tuning_stream(args.shared / "data", args.snr_db)
    commands = [t for t in truth if t["label"] in SPEECH_COMMANDS]
    minutes = len(mix) / get_domain("speech").sample_rate / 60
    console = Console()
    console.print(f"stream: {len(truth)} words ({len(commands)} commands, {len(truth) - len(commands)} unknown) of "
                  f"{len({t['speaker'] for t in truth})} held-out part A speakers, {minutes:.1f} min, {args.snr_db:g} dB SNR")

    table = Table(title="listen --json --fast on the held-out stream")
    for column in ("weights", "threshold", "commands found", "false events", "false / min"):
        table.add_column(column, justify="right")
    for path in args.weights or [weights.shipped("speech")]:
        _, rows = streams.tune_threshold(mix, truth, path, [float(t) for t in args.thresholds.split(",")])
        for row in rows:
            table.add_row(path.name, f"{row['threshold']:g}", f"{row['found']}/{row['commands']} = {100 * row['found'] / row['commands']:.1f}%",
                          str(row["false"]), f"{row['false'] / minutes:.2f}")
    console.print(table)


if __name__ == "__main__":
    main()
