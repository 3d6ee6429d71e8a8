"""Custom words heard from real people: `livecmd custom` trained on synthetic voices only (and
then with 5 real takes per word), scored by `livecmd listen` on real recordings it never saw.

    python benchmarks/custom_words.py [--vocabulary wake|numbers] [--minutes 20] [--negatives NEG/train] [--speed P]
        [--seed N] [--room P] [--synthetic W] [--with-takes W] [--shared ../shared] [--voices V] [--as-a-user] [--out DIR]

Two vocabularies of real recordings by many speakers (`VOCABULARIES`): `wake` (the default),
`smart mirror`, `snowboy`, `view glass`, 100 recordings each in ../shared/data/wake_words_real
(crowd-sourced speakers no model here heard); and `numbers`, `zero`, `one`, `five`, `eight`,
the Speech Commands clips of ../shared/data/speech_commands_extra_trainval that the shipped
speech model (custom's starting point) never trained on: its recipe took a fixed draw of 200 of
each of these words as `_unknown_` (`train.merge.taken`), the other 140 are scored here (their
speakers said other words the shipped model did train on). The first 5 recordings of each word
(by file name) are the "takes" of the second model and are left out of every score; the others
are laid 4 s apart, shuffled with a fixed seed, over real kitchen noise at 20 dB SNR
(`train.streams.build`), and `listen --json --fast` runs over that stream at listen's defaults
for each model (the threshold, per-word thresholds and hold it was tuned to): a word is found
when an event of its label comes between its start and 1.2 s after its end
(`train.streams.match`), any other event is false; the found are also counted by how long the
word lasts (`LENGTHS`). False activations per hour: the events of
listen over the ~9 minutes of real music in ../shared/data/music, scaled to an hour. Without
--synthetic / --with-takes the models are trained first (one at a time; the time each took is
printed) and written to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from livecmd import audio, weights  # noqa: E402
from livecmd.domains import SAMPLE_RATE  # noqa: E402
from livecmd.vocabulary import label_of  # noqa: E402
from train import streams, synth  # noqa: E402
from train.custom import AUDIO_SUFFIXES, CustomConfig, run  # noqa: E402
from train.merge import taken  # noqa: E402


@dataclass(frozen=True)
class Vocabulary:
    """Words and where their real recordings are: one subfolder per label of `folder` (under the
    shared data folder)."""

    words: tuple[str, ...]
    folder: str
    shipped_draw: int | None = None  # the speech recipe's --max-per-word: that draw of each word is the shipped model's, not scored


VOCABULARIES = {
    "wake": Vocabulary(("smart mirror", "snowboy", "view glass"), "wake_words_real"),
    "numbers": Vocabulary(("zero", "one", "five", "eight"), "speech_commands_extra_trainval", shipped_draw=200),
}
TAKES = 5  # real takes per word for the second model
SPACING_S = 4.0  # the recordings are 1.4-3.1 s long
SNR_DB = 20.0


def split_recordings(data: Path, vocabulary: Vocabulary = VOCABULARIES["wake"]) -> tuple[dict[str, list[Path]], list[tuple[str, Path]]]:
    """(the takes: label -> first TAKES recordings by name, the scored rest as (label, path)),
    of the recordings no model here trained on."""
    takes, scored = {}, []
    for word in vocabulary.words:
        label = label_of(word)
        folder = data / vocabulary.folder / label
        shipped = set(taken(folder, vocabulary.shipped_draw)) if vocabulary.shipped_draw else set()
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p not in shipped)
        takes[label] = paths[:TAKES]
        scored += [(label, p) for p in paths[TAKES:]]
    return takes, scored


def write_takes(takes: dict[str, list[Path]], folder: Path) -> Path:
    """The takes in the layout `livecmd custom --takes` reads (LABEL/NAME)."""
    for label, paths in takes.items():
        (folder / label).mkdir(parents=True, exist_ok=True)
        for p in paths:
            (folder / label / p.name).write_bytes(p.read_bytes())
    return folder


def write_stream(recordings: list[tuple[str, Path]], noise: np.ndarray, path: Path, data: Path) -> tuple[Path, list[dict]]:
    """The recordings shuffled (fixed seed), SPACING_S apart over `noise` at SNR_DB, written to `path`."""
    shuffled = list(recordings)
    random.Random(0).shuffle(shuffled)
    mix, truth = streams.build(shuffled, noise, SAMPLE_RATE, SNR_DB, SPACING_S, source_root=data)
    sf.write(path, mix, SAMPLE_RATE, subtype="PCM_16")
    return path, truth


def music_stream(folder: Path) -> np.ndarray:
    return np.concatenate([audio.load(p) for p in sorted(folder.iterdir()) if p.suffix.lower() in (".ogg", ".mp3")])


TTS_LONGEST_S = synth.MAX_SPEECH / SAMPLE_RATE  # 0.95 s: synth speeds a longer word up to fit its 1-s clip
LENGTHS = ((0.0, TTS_LONGEST_S), (TTS_LONGEST_S, 1.05), (1.05, float("inf")))
"""Seconds a recording's word lasts (`streams.build`'s truth: `word_span`), as the found are
counted by length: under the longest TTS word (`synth.MAX_SPEECH`), about listen's 1-s window,
longer than it. People say phrases longer than the voices do, and the long ones are missed."""


def by_length(events: list[dict], truth: list[dict]) -> dict[str, dict[str, int]]:
    """Words and found words in each of `LENGTHS` (keys such as "0.95-1.05 s")."""
    out = {}
    for low, high in LENGTHS:
        mine = [t for t in truth if low <= t["end"] - t["start"] < high]
        key = f"{low:g}-{high:g} s" if high != float("inf") else f"{low:g} s and over"
        out[key] = {"words": len(mine), "found": streams.match(events, mine)[0]}
    return out


def score(model: Path, stream: Path, truth: list[dict], music: Path, music_hours: float) -> dict:
    tuned = weights.listen_settings(weights.read_meta(model), model)  # listen's defaults with these weights
    events = streams.detect(stream, model)
    found, false = streams.match(events, truth)
    music_events = streams.detect(music, model)
    per_word = {}
    for label in sorted({t["label"] for t in truth}):
        mine = [t for t in truth if t["label"] == label]
        per_word[label] = {"words": len(mine), "found": streams.match([e for e in events if e["label"] == label], mine)[0]}
    return {"weights": str(model), "threshold": tuned.threshold, "thresholds": tuned.label_thresholds, "hold_ms": tuned.hold_ms, "words": len(truth), "found": found, "found_share": found / len(truth),
            "false": false, "false_per_10_words": 10 * false / len(truth), "per_word": per_word, "by_length": by_length(events, truth),
            "music_events": len(music_events), "music_minutes": music_hours * 60,
            "false_per_hour_music": len(music_events) / music_hours}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("LIVECMD_SHARED", REPO.parent / "shared")))
    parser.add_argument("--minutes", type=float, default=20.0, help="livecmd custom --minutes for the models trained here")
    parser.add_argument("--synthetic", type=Path, help="weights already trained on synthetic voices only (else trained here)")
    parser.add_argument("--with-takes", type=Path, help="weights already trained with the 5 takes per word (else trained here)")
    parser.add_argument("--only", choices=("synthetic", "takes"), help="train and score only this model")
    parser.add_argument("--vocabulary", choices=tuple(VOCABULARIES), default="wake", help="the words and their real recordings")
    parser.add_argument("--out", type=Path, help="where trained weights, takes and results go (runs/custom-words, runs/custom-numbers)")
    parser.add_argument("--negatives", type=Path, action="append", default=[],
                        help="livecmd custom --negatives for the models trained here (a corpus's train/ part: never its bench/)")
    parser.add_argument("--speed", type=float, default=0.0, help="livecmd custom --speed for the models trained here")
    parser.add_argument("--seed", type=int, default=0, help="livecmd custom --seed for the models trained here")
    parser.add_argument("--room", type=float, default=CustomConfig.room,
                        help="how often custom puts a training window in a random room and behind a random microphone (0: never)")
    parser.add_argument("--trainable", type=int, default=CustomConfig.trainable,
                        help="livecmd custom --trainable: blocks of the shipped model fine-tuned at the top")
    parser.add_argument("--voices", default=CustomConfig.voices, help="livecmd custom --voices: all, or engines such as espeak-ng,flite")
    parser.add_argument("--as-a-user", action="store_true",
                        help="train as on a user's machine, without the real Speech Commands clips and background noise of "
                             "the shared data folder (custom's other words are then synthetic only, its noise generated); "
                             "scoring still reads the real recordings there")
    args = parser.parse_args()
    data = args.shared / "data"
    console = Console()
    vocabulary = VOCABULARIES[args.vocabulary]
    words = vocabulary.words
    args.out = args.out or Path("runs/custom-words" if args.vocabulary == "wake" else f"runs/custom-{args.vocabulary}")
    takes, scored = split_recordings(data, vocabulary)
    args.out.mkdir(parents=True, exist_ok=True)
    models = {}
    for name, given, takes_dir in (("synthetic voices only", args.synthetic, None),
                                   (f"+ {TAKES} real takes per word", args.with_takes, write_takes(takes, args.out / "takes"))):
        if args.only and (args.only == "takes") != (takes_dir is not None):
            continue
        if given is None:
            given = args.out / ("synthetic.safetensors" if takes_dir is None else "with-takes.safetensors")
            started = time.monotonic()
            shared = CustomConfig.shared
            if args.as_a_user:
                shared = args.out / "no-shared-data"  # an empty folder in place of the shared data
                shared.mkdir(exist_ok=True)
            run(CustomConfig(words=",".join(words), out=given, takes=takes_dir, minutes=args.minutes, negatives=tuple(args.negatives),
                             speed=args.speed, seed=args.seed, room=args.room, trainable=args.trainable, voices=args.voices,
                             shared=shared), console)
            console.print(f"{name}: trained in {(time.monotonic() - started) / 60:.1f} min")
        models[name] = given

    noise = audio.load(data / streams.NOISE)
    music = music_stream(data / "music")
    music_path = args.out / "music.wav"
    sf.write(music_path, music, SAMPLE_RATE, subtype="PCM_16")
    music_hours = len(music) / SAMPLE_RATE / 3600
    # Every model on the recordings that are no take (wake: 285); the synthetic one on all of them as well (300).
    every = scored + [(label, p) for label, paths in takes.items() for p in paths]
    runs = [(name, model, str(len(scored)), scored) for name, model in models.items()]
    runs += [(name, model, str(len(every)), every) for name, model in models.items() if name.startswith("synthetic")]
    table = Table(title="listen --json --fast on real recordings never trained on")
    for column in ("model", "recordings", "threshold, hold", "found", "false events", "per 10 words", *words, "music false / h"):
        table.add_column(column, justify="right")
    results = {}
    for name, model, which, recordings in runs:
        stream, truth = write_stream(recordings, noise, args.out / f"real-stream-{which}.wav", data)
        r = score(model, stream, truth, music_path, music_hours)
        results[f"{name}, {which} recordings"] = r
        own = "".join(f", {label} {value:g}" for label, value in r["thresholds"].items())
        table.add_row(name, which, f"{r['threshold']:g}{own}, {r['hold_ms']:g} ms", f"{r['found']}/{r['words']} = {100 * r['found_share']:.1f}%", str(r["false"]),
                      f"{r['false_per_10_words']:.2f}",
                      *(f"{r['per_word'][w.replace(' ', '_')]['found']}/{r['per_word'][w.replace(' ', '_')]['words']}" for w in words),
                      f"{r['false_per_hour_music']:.1f}")
    console.print(f"streams: the recordings 4 s apart over kitchen noise at {SNR_DB:g} dB SNR; music {music_hours * 60:.1f} min")
    console.print(table)
    for name, r in results.items():
        console.print(f"{name}, found by the word's length: " + ", ".join(f"{k} {v['found']}/{v['words']}" for k, v in r["by_length"].items()))
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
