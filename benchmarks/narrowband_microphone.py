"""A narrowband microphone: what `livecmd listen` hears through a headset or a phone line.

    python benchmarks/narrowband_microphone.py [--weights W ...] [--shared ../shared]

A Bluetooth headset in its hands-free mode and a phone line sample at 8 kHz; the system hands
listen 16 kHz audio with nothing above about 3.6 kHz. Speech Commands clips were recorded by
phones and laptops at 16 kHz, and the shipped model reads the whole band. Each weights file at
its own listen defaults, through each microphone:

- `as recorded`: the audio as it is;
- `12 kHz`, `8 kHz`: sampled at that rate and back to 16 kHz by soxr (as an operating system's
  resampler does);
- `telephone band`: a 6th-order Butterworth band-pass of 300-3400 Hz (the classic telephone
  channel).

Measured: clip accuracy on part A's held-out speakers (`livecmd eval --split valid`'s 279 clips,
one centred window each, fp32: the model alone) and the held-out command stream of
`train.streams.tuning_stream` (94 commands of 7 speakers over kitchen noise at 20 dB) through
`livecmd listen --json --fast`: commands found and false events.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soxr
from rich.console import Console
from rich.table import Table
from scipy import signal

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from livecmd import weights  # noqa: E402
from livecmd.domains import SAMPLE_RATE, SPEECH_COMMANDS  # noqa: E402
from quiet_microphone import clip_accuracy, heard  # noqa: E402
from train import streams  # noqa: E402
from train.datasets import load  # noqa: E402


def sampled_at(rate: float) -> Callable[[np.ndarray], np.ndarray]:
    """A microphone that samples at `rate`, resampled back to 16 kHz."""
    def through(wave: np.ndarray) -> np.ndarray:
        out = soxr.resample(soxr.resample(wave, SAMPLE_RATE, rate), rate, SAMPLE_RATE)
        return np.pad(out, (0, max(0, len(wave) - len(out))))[: len(wave)].astype(np.float32)
    return through


def telephone_band(wave: np.ndarray) -> np.ndarray:
    sos = signal.butter(6, [300.0, 3400.0], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    return signal.sosfilt(sos, wave).astype(np.float32)


MICROPHONES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "as recorded": lambda wave: wave,
    "12 kHz": sampled_at(12_000.0),
    "8 kHz": sampled_at(8_000.0),
    "telephone band": telephone_band,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, action="append", help="weights to compare (default: the shipped speech weights)")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = parser.parse_args()
    data = args.shared / "data"
    console = Console()
    clips = load("speech", data / streams.PART_A, console=Console(stderr=True)).clips("valid")
    mix, truth = streams.tuning_stream(data)
    commands = [t for t in truth if t["label"] in SPEECH_COMMANDS]
    console.print(f"{len(clips)} held-out part A clips; stream: {len(commands)} commands of {len({t['speaker'] for t in truth})} held-out speakers")
    table = Table(title="a narrowband microphone: listen's defaults")
    for column in ("weights", "microphone", "clip accuracy (the model alone)", "stream found (false)"):
        table.add_column(column, justify="right")
    for path in args.weights or [weights.shipped("speech")]:
        accuracy = clip_accuracy(path, clips, list(MICROPHONES.values()))
        for (name, microphone), right in zip(MICROPHONES.items(), accuracy):
            found, false = streams.match(heard(microphone(mix), path, agc=True), commands)
            table.add_row(path.name, name, f"{100 * right:.1f}%", f"{found}/{len(commands)} ({false})")
    console.print(table)


if __name__ == "__main__":
    main()
