"""Commands behind a wake word (`livecmd listen --wake W`): how many "wake word, command" pairs
said by real people come through, and how often music and talk let a command through, beside
the commands alone.

    python benchmarks/wake_gate.py --wake W --corpus NEG [--weights C] [--phrase smart_mirror]
        [--wake-thresholds own,0.5] [--wake-s 2.5,5] [--max-utterance-ms MS] [--gap-s 0.1] [--hours 1.0] [--shared ../shared] [--json results.json]

The stream is the held-out command stream's words (`train.streams.tuning_stream`: part A's
held-out speakers, one word every 1.6 s over real kitchen noise at 20 dB) with a real recording
of the wake phrase (`../shared/data/wake_words_real/PHRASE/`, by crowd-sourced speakers; never
trained on) 1.6 s before each command; with `--gap-s`, each command that long after its wake
phrase's voice ends ("smart mirror, up" in one breath at 0.1), and 2 s between pairs. A command is found when an event of its label that the
gate lets through comes between its start and `train.streams.LATE_S` after its end; any other
command event let through is false. On the negatives' benchmark part (`NEG/bench/`: music,
talk without commands, noise, speech over music) every command let through is false, and the
wake word's own events an hour are given beside them. Each model
scores each recording once (`livecmd.Recognizer`, the wake word's model as `wake_gate` builds
it); each setting then decides and gates those scores (`WakeGate.let_through`), as listen would.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from livecmd import audio, weights  # noqa: E402
from livecmd.compute import cpu_name  # noqa: E402
from livecmd.domains import SPEECH_COMMANDS, get_domain  # noqa: E402
from livecmd.recognizer import Recognizer  # noqa: E402
from livecmd.stream.gate import WakeGate, commands_max_utterance_ms, wake_gate  # noqa: E402
from train import streams  # noqa: E402
from train.datasets import negatives  # noqa: E402

KINDS = ("music", "speech", "noise", "mix")


def wake_recordings(data: Path, phrase: str, seed: int = 0) -> list[Path]:
    """The real recordings of `phrase` in `data`/wake_words_real, in an order shuffled with `seed`."""
    recordings = sorted(p for p in (data / "wake_words_real" / phrase).glob("*") if p.suffix in (".wav", ".flac"))
    if not recordings:
        raise SystemExit(f"no recordings of {phrase!r} in {data / 'wake_words_real'}")
    random.Random(seed).shuffle(recordings)
    return recordings


def wake_stream(data: Path, phrase: str, seed: int = 0) -> tuple:
    """The held-out command stream with a real recording of `phrase` before each command: (mix,
    truth); the wake phrase's truth rows are labelled `phrase`."""
    _, tuning = streams.tuning_stream(data)
    recordings = wake_recordings(data, phrase, seed)
    words: list[tuple[str, Path]] = []
    for word in tuning:
        if word["label"] in SPEECH_COMMANDS:
            words.append((phrase, recordings[len(words) % len(recordings)]))
        words.append((word["label"], data / word["source"]))
    rate = get_domain("speech").sample_rate
    return streams.build(words, audio.load(data / streams.NOISE, rate), rate, 20.0, spacing_s=1.6, source_root=data)


def said_in_one_breath(data: Path, phrase: str, gap_s: float, seed: int = 0) -> tuple:
    """Each command of the held-out stream right after a real recording of `phrase`, `gap_s`
    from the end of its voice to the command's start (0.1: "smart mirror, up" in one breath),
    then 2 s of pause; over the same kitchen noise at 20 dB. (mix, truth of the commands)."""
    from train.augment import word_span

    _, tuning = streams.tuning_stream(data)
    recordings = wake_recordings(data, phrase, seed)
    rate = get_domain("speech").sample_rate
    parts, truth, at = [np.zeros(rate, np.float32)], [], rate
    for i, word in enumerate(w for w in tuning if w["label"] in SPEECH_COMMANDS):
        wake, command = (audio.load(path, rate) for path in (recordings[i % len(recordings)], data / word["source"]))
        wake, command = wake[slice(*word_span(wake))], command[slice(*word_span(command))]
        gap, pause = np.zeros(round(gap_s * rate), np.float32), np.zeros(2 * rate, np.float32)
        start = at + len(wake) + len(gap)
        truth.append({"label": word["label"], "start": start / rate, "end": (start + len(command)) / rate})
        parts += [wake, gap, command, pause]
        at = start + len(command) + len(pause)
    return streams.over_noise(np.concatenate(parts), truth, audio.load(data / streams.NOISE, rate), rate, 20.0), truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wake", required=True, help="the wake word: a shipped one's name (\"smart mirror\") or its weights (livecmd custom)")
    parser.add_argument("--corpus", type=Path, required=True, help="a corpus of python -m train.recipes.negatives")
    parser.add_argument("--weights", type=Path, default=None, help="the commands' weights (default: the shipped speech weights)")
    parser.add_argument("--phrase", default="smart_mirror", help="the wake phrase: a folder of wake_words_real and a label of --wake")
    parser.add_argument("--wake-thresholds", default="own,0.5", help="comma-separated listen --wake-threshold values (own: the weights')")
    parser.add_argument("--wake-s", default="2.5,5", help="comma-separated listen --wake-s values")
    parser.add_argument("--max-utterance-ms", type=float, default=None, help="the commands' listen --max-utterance-ms (default: as listen, the weights' own alone and 0 behind the wake word)")
    parser.add_argument("--gap-s", type=float, default=None, help="instead: each command GAP s after its wake phrase's voice ends, 2 s between pairs")
    parser.add_argument("--hours", type=float, default=1.0, help="at most this much audio of each kind of negative (a fixed draw)")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args()

    data = args.shared / "data"
    mix, truth = wake_stream(data, args.phrase) if args.gap_s is None else said_in_one_breath(data, args.phrase, args.gap_s)
    commands_truth = [t for t in truth if t["label"] in SPEECH_COMMANDS]
    wake_truth = [t for t in truth if t["label"] == args.phrase]  # none with --gap-s: the wake words found are not counted
    drawn = [r for r in negatives.draw(negatives.find([args.corpus / "bench"]).recordings, args.hours) if r.kind in KINDS]
    commands = Recognizer(args.weights, threads=1)
    wake = wake_gate(args.wake, commands, settings={"threads": 1}).recognizer
    if args.phrase not in wake.labels:
        raise SystemExit(f"{args.wake} has no label {args.phrase!r} ({', '.join(wake.labels)})")
    console = Console(width=160)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stream.wav"
        sf.write(path, mix, commands.sample_rate, subtype="PCM_16")
        recordings = [("stream", path, len(mix) / commands.sample_rate / 3600)] + [(r.kind, r.path, r.seconds / 3600) for r in drawn]
        scored = []
        for kind, file, hours in recordings:
            commands.reset()
            wake.reset()
            scored.append((kind, hours, streams.score_clip(commands, file), streams.score_clip(wake, file)))
    console.print(f"stream: {len(commands_truth)} pairs of {args.phrase} and a command ({len(truth) - len(commands_truth) - len(wake_truth)} other words), "
                  f"{len(mix) / commands.sample_rate / 60:.1f} min; negatives: "
                  + ", ".join(f"{kind} {sum(h for k, h, _, _ in scored if k == kind):.2f} h" for kind in KINDS))

    def as_rows(events) -> list[dict]:
        return [{"time": e.time, "label": e.label} for e in events]

    rows = []
    alone = {"wake_threshold": None, "wake_s": None}
    settings = [alone] + [{"wake_threshold": None if t == "own" else float(t), "wake_s": float(s)}
                          for t in args.wake_thresholds.split(",") for s in args.wake_s.split(",")]
    # The commands' events do not depend on the wake word's setting: decided once per recording,
    # alone and as listen --wake decides them (its look-back rule).
    behind_ms = commands_max_utterance_ms(args.max_utterance_ms)
    decided = [(kind, hours, commands.decide(heard, max_utterance_ms=args.max_utterance_ms),
                commands.decide(heard, max_utterance_ms=behind_ms), woke) for kind, hours, heard, woke in scored]
    for setting in settings:
        row = dict(setting, kinds={})
        for kind, hours, said_alone, said, woke in decided:
            if setting is alone:
                let, wakes = said_alone, []
            else:
                wakes = wake.decide(woke, setting["wake_threshold"])
                gate = WakeGate(wake, setting["wake_s"])
                gate.remember(woke.ends, woke.scores)
                let = [e for e in gate.let_through(wakes, said) if not e.wake]
            if kind == "stream":
                row["found"], row["false"] = streams.match(as_rows(let), commands_truth)
                row["wake_found"] = streams.match(as_rows(wakes), wake_truth)[0] if wakes and wake_truth else None
            else:
                entry = row["kinds"].setdefault(kind, {"hours": 0.0, "events": 0, "wakes": 0})
                entry["hours"] += hours
                entry["events"] += len(let)
                entry["wakes"] += len(wakes)
        for entry in row["kinds"].values():
            entry["per_hour"] = entry["events"] / entry["hours"]
            entry["wakes_per_hour"] = entry["wakes"] / entry["hours"]
        rows.append(row)

    own = weights.listen_settings(weights.read_meta(wake.weights), wake.weights).threshold
    table = Table(title=f"commands ({commands.weights.name}) behind the wake word {args.phrase} ({wake.weights.name}, its threshold {own:g})")
    for column in ("wake threshold", "wake s", f"wake words found / {len(wake_truth) or '-'}", f"commands found / {len(commands_truth)}",
                   "false on the stream", *(f"{kind}: commands (wake words) / h" for kind in KINDS if kind in rows[0]["kinds"])):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row("no gate" if row is rows[0] else "own" if row["wake_threshold"] is None else f"{row['wake_threshold']:g}",
                      "" if row is rows[0] else f"{row['wake_s']:g}", "" if row["wake_found"] is None else str(row["wake_found"]),
                      f"{row['found']} ({100 * row['found'] / len(commands_truth):.0f}%)", str(row["false"]),
                      *(f"{row['kinds'][kind]['per_hour']:.1f}" + ("" if row is rows[0] else f" ({row['kinds'][kind]['wakes_per_hour']:.1f})")
                        for kind in KINDS if kind in row["kinds"]))
    console.print(table)
    console.print(f"machine: {cpu_name()}")
    if args.json:
        args.json.write_text(json.dumps({"wake": str(wake.weights), "phrase": args.phrase, "weights": str(commands.weights),
                                         "pairs": len(wake_truth), "rows": rows, "machine": cpu_name()}, indent=1) + "\n")


if __name__ == "__main__":
    main()
