"""A quieter microphone: how much of what `livecmd listen` hears survives a lower input level.

    python benchmarks/quiet_microphone.py [--weights W ...] [--gains-db 0,-10,-20,-30] [--shared ../shared]
        [--corpus NEG]

Speech Commands clips were recorded close to laptop and phone microphones; a microphone across
the room, or one whose input gain is low, gives the same words 10-30 dB softer. The clips' own
levels vary too, but training only played them 12 dB softer at most (`train.augment`), and a
raw-waveform network is not level-invariant by construction (its first convolutions and batch
norms see the samples' scale). Two measurements at each gain, each weights file at its own
listen defaults:

- clip accuracy on part A's held-out speakers (`livecmd eval --split valid`'s 279 clips), each
  clip's centred window scaled by the gain, fp32: the model alone;
- the held-out command stream of `train.streams.tuning_stream` (94 commands of 7 speakers over
  kitchen noise at 20 dB, peaking at 0.9, i.e. -1 dBFS) scaled by the gain as a whole, through
  `livecmd listen --json --fast` (noise and words alike: the room is just as much quieter):
  commands found and false events, with listen's automatic gain control (`livecmd.stream.level`)
  and without it (`--no-agc`).

With `--corpus NEG` (`python -m train.recipes.negatives NEG`), also what gain control does to
sounds that start after a quiet spell: 24 recordings of the corpus's benchmark part, each cut
to its first minute and started at its own level after 10 s of a quiet room (the kitchen noise
at -70 dBFS), through listen with gain control and without it; every event is false.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from livecmd import audio, weights  # noqa: E402
from livecmd.domains import SPEECH_COMMANDS, get_domain  # noqa: E402
from livecmd.recognizer import Recognizer  # noqa: E402
from train import streams  # noqa: E402
from train.datasets import load, negatives  # noqa: E402

QUIET_ROOM_DBFS = -70.0


def clip_accuracy(path: Path, clips: list, microphones: Sequence[Callable[[np.ndarray], np.ndarray]]) -> list[float]:
    """Accuracy of the weights at `path` on `clips` (one centred window each, as `livecmd eval`
    reads a 1-s clip), each window heard through each of `microphones` (a function of the
    window's samples: a gain, a filter); the model and the clips are loaded once."""
    loaded = weights.load(path, torch.device("cpu"))
    model, labels = loaded.model.eval(), list(loaded.meta.labels)
    windows = [audio.fit(audio.load(c.path, 16000), loaded.meta.input_samples) for c in clips]
    truth = [labels.index(c.labels[0]) for c in clips]
    accuracy = []
    for microphone in microphones:
        with torch.no_grad():
            guess = model(torch.from_numpy(np.stack([microphone(w) for w in windows]))).argmax(-1).tolist()
        accuracy.append(sum(g == t for g, t in zip(guess, truth)) / len(truth))
    return accuracy


def softer(gain_db: float) -> Callable[[np.ndarray], np.ndarray]:
    """A microphone `gain_db` dB softer (or louder)."""
    return lambda wave: wave * np.float32(10 ** (gain_db / 20))


def heard(mix: np.ndarray, path: Path, agc: bool) -> list[dict]:
    """`livecmd listen --json --fast [--no-agc]`'s events on the stream `mix`, written as a 16-bit
    file as a user's recording would be."""
    with tempfile.TemporaryDirectory() as tmp:
        stream = Path(tmp) / "stream.wav"
        sf.write(stream, mix, get_domain("speech").sample_rate, subtype="PCM_16")
        return streams.detect(stream, path, agc=agc)


def after_quiet_room(corpus: Path, data: Path, path: Path, agc: bool, count: int = 24) -> tuple[int, float]:
    """(events, minutes of recordings) of `count` recordings of `corpus`'s benchmark part drawn
    with a fixed seed, each after 10 s of a quiet room, heard with or without gain control."""
    recordings = negatives.find([corpus / "bench"]).recordings
    picked = [recordings[i] for i in np.random.default_rng(0).choice(len(recordings), min(count, len(recordings)), replace=False)]
    noise = audio.load(data / streams.NOISE)[: 10 * 16_000]
    room = (noise * np.float32(10 ** (QUIET_ROOM_DBFS / 20) / np.sqrt(np.mean(noise**2)))).astype(np.float32)
    recognizer = Recognizer(path, threads=1, agc=agc)
    events, seconds = 0, 0.0
    for recording in picked:
        wave = audio.load(recording.path)[: 60 * 16_000]
        recognizer.reset()
        events += len(recognizer.feed(np.concatenate([room, wave])) + recognizer.flush())
        seconds += len(wave) / 16_000
    return events, seconds / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, action="append", help="weights to compare (default: the shipped speech weights)")
    parser.add_argument("--gains-db", default="0,-10,-20,-30", help="comma-separated gains (dB) to play the clips and the stream at")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--corpus", type=Path, help="a corpus of python -m train.recipes.negatives: also sounds after a quiet room")
    args = parser.parse_args()
    gains = [float(g) for g in args.gains_db.split(",")]
    data = args.shared / "data"
    console = Console()
    clips = load("speech", data / streams.PART_A, console=Console(stderr=True)).clips("valid")
    mix, truth = streams.tuning_stream(data)
    commands = [t for t in truth if t["label"] in SPEECH_COMMANDS]
    minutes = len(mix) / get_domain("speech").sample_rate / 60
    console.print(f"{len(clips)} held-out part A clips; stream: {len(commands)} commands of "
                  f"{len({t['speaker'] for t in truth})} held-out speakers, {minutes:.1f} min, peaking at -1 dBFS before the gain")
    table = Table(title="a quieter microphone: listen's defaults at each gain")
    for column in ("weights", "gain dB", "clip accuracy (the model alone)", "stream found (false)", "without gain control"):
        table.add_column(column, justify="right")
    for path in args.weights or [weights.shipped("speech")]:
        accuracy = clip_accuracy(path, clips, [softer(g) for g in gains])
        for gain_db, right in zip(gains, accuracy):
            table.add_row(path.name, f"{gain_db:g}", f"{100 * right:.1f}%",
                          *(f"{found}/{len(commands)} ({false})" for found, false in (streams.match(heard(softer(gain_db)(mix), path, agc), commands) for agc in (True, False))))
    console.print(table)
    if args.corpus:
        for path in args.weights or [weights.shipped("speech")]:
            (on, minutes), (off, _) = (after_quiet_room(args.corpus, data, path, agc) for agc in (True, False))
            console.print(f"{path.name}: {minutes:.1f} min of recordings, each after 10 s of a quiet room: "
                          f"{on} false events with gain control, {off} without")


if __name__ == "__main__":
    main()
