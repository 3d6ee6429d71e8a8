"""False activations per hour on audio without commands, beside the commands found on the
held-out command stream: the DET trade-off of `livecmd listen` for an always-on recognizer.

    python benchmarks/false_alarms.py --corpus NEG [--weights W ...] [--thresholds 0.5,0.7,0.9]
        [--holds 0,200] [--max-utterance-ms 0,1000] [--room-snr-db 30] [--stream-snr-db 20]
        [--only yes,no] [--shared ../shared] [--plot docs/false-alarms.png] [--json results.json]

NEG is a corpus built by `python -m train.recipes.negatives NEG`; its benchmark part
(`NEG/bench/<kind>/`: music, speech without commands, noise, speech over music) is never trained
on. Every event `livecmd listen --input REC --json --fast` would print on it is a false
activation; they are counted per kind and per hour of audio at each threshold (one pass of the
model per recording, `livecmd.Recognizer.decide` for each threshold; `--hours` caps each kind at
a fixed draw of recordings where time is short). The command stream is `train.streams.tuning_stream`: words of
part A's held-out speakers over kitchen noise, as in benchmarks/stream_accuracy.py. The DET
curve (false activations per hour against the stream's miss rate, log scales) is drawn per kind.
`--room-snr-db` adds the kind `room`: the benchmark's talk with real kitchen noise under it, as
talk in a room is heard (the TTS talk itself is digital silence between words).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from livecmd import audio, weights  # noqa: E402
from livecmd.compute import cpu_name  # noqa: E402
from train import streams  # noqa: E402
from train.augment import add_noise_under_voice  # noqa: E402
from train.datasets import negatives  # noqa: E402

ROOM = "room"  # the benchmark's talk with real kitchen noise under it (--room-snr-db): talk in a room, not in a file's digital silence
KINDS = ("music", "speech", "noise", "mix", ROOM)


def measure(path: Path, corpus: Path, data: Path, thresholds: list[float], holds: list[float | None],
            hours_per_kind: float | None = None, utterances: tuple[float | None, ...] = (None,), room_snr_db: float | None = None,
            stream_snr_db: float = 20.0, only: str | None = None) -> dict:
    """At listen's defaults (the weights' own thresholds and hold: threshold and hold None), then
    per threshold and hold, each at every `utterances` (listen --max-utterance-ms; None: the
    weights' own): false activations and hours per kind of NEG/bench (and of its talk in a room
    with `room_snr_db`), and the stream's (at `stream_snr_db`) commands found and false events;
    with `only` (listen --only), of those labels alone."""
    recordings = negatives.find([corpus / "bench"]).recordings
    mix, truth = streams.tuning_stream(data, snr_db=stream_snr_db)
    drawn = [r for r in negatives.draw(recordings, hours_per_kind) if r.kind in KINDS]
    with tempfile.TemporaryDirectory() as tmp:
        if room_snr_db is not None:
            noise = audio.load(data / streams.NOISE)
            drawn += [in_room(r, noise, room_snr_db, Path(tmp)) for r in drawn if r.kind == "speech"]
        scoring = streams.score(mix, truth, path, drawn, only=only)
    rows = []
    for threshold, hold, utterance in [(None, None, u) for u in utterances] + [(t, h, u) for u in utterances for h in holds for t in thresholds]:
        scored = scoring.row(threshold, hold, None, utterance)
        kinds = {}
        for kind in (k for k in KINDS if k in scored["kinds"]):
            hours, events = scored["kinds"][kind]["hours"], scored["kinds"][kind]["events"]
            kinds[kind] = {"hours": hours, "events": len(events), "per_hour": len(events) / hours,
                           "labels": dict(Counter(e["label"] for e in events))}
        stream_row = {"commands": scored["commands"], "found": scored["found"], "false": scored["false"]}
        rows.append({"threshold": threshold, "hold_ms": hold, "max_utterance_ms": utterance, "kinds": kinds, "stream": stream_row})
    own = weights.listen_settings(weights.read_meta(path), path)
    return {"weights": str(path), "only": only, "commands": rows[0]["stream"]["commands"], "stream_minutes": len(mix) / 16000 / 60, "rows": rows,
            "defaults": {"thresholds": dict(zip(scoring.recognizer.labels, scoring.recognizer.thresholds)),
                         "hold_ms": own.hold_ms, "max_utterance_ms": own.max_utterance_ms, "peak_ms": own.peak_ms},
            "machine": cpu_name()}


def in_room(recording: negatives.Recording, noise: np.ndarray, snr_db: float, folder: Path) -> negatives.Recording:
    """`recording` (talk) with `noise` looped under it at `snr_db` below the talk's voice
    (`add_noise_under_voice`), as kind ROOM, written to `folder`."""
    talk = audio.load(recording.path)
    mixed = add_noise_under_voice(talk, np.resize(noise, len(talk)), snr_db)
    out = folder / f"{recording.path.stem}-room.wav"
    sf.write(out, (mixed * min(1.0, 0.9 / np.abs(mixed).max())).astype(np.float32), 16000, subtype="PCM_16")
    return replace(recording, path=out, kind=ROOM)


def plot(results: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for result in results:
        if not result["commands"]:  # a custom vocabulary: the command stream holds none of its words, no miss rate
            continue
        name = Path(result["weights"]).name
        holds = list(dict.fromkeys(r["hold_ms"] for r in result["rows"]))
        for hold, kind in [(h, k) for h in holds for k in KINDS]:
            points = [(r["kinds"][kind]["per_hour"], 1 - r["stream"]["found"] / r["stream"]["commands"], r["threshold"])
                      for r in result["rows"] if kind in r["kinds"] and r["hold_ms"] == hold and r["threshold"] is not None
                      and r["max_utterance_ms"] == result["rows"][0]["max_utterance_ms"]]
            if not points:
                continue
            # A count of zero is drawn at 0.1 an hour, the floor of the log axis; a miss rate of 0 at 0.01.
            xs = [max(p[0], 0.1) for p in points]
            label = kind + (f" ({name})" if len(results) > 1 else "") + (f", hold {hold:g} ms" if len(holds) > 1 and hold is not None else "")
            ax.plot(xs, [max(p[1], 0.01) for p in points], marker="o", label=label)
            for x, p in zip(xs, points):
                ax.annotate(f"{p[2]:g}", (x, max(p[1], 0.01)), fontsize=6, xytext=(2, 2), textcoords="offset points")
        own = result["rows"][0]  # listen's defaults: the weights' own (per-label) thresholds and hold
        miss = max(1 - own["stream"]["found"] / own["stream"]["commands"], 0.01)
        for kind in (k for k in KINDS if k in own["kinds"]):
            ax.plot([max(own["kinds"][kind]["per_hour"], 0.1)], [miss], marker="*", markersize=11, color="black", linestyle="none",
                    label="listen's defaults" + (f" ({name})" if len(results) > 1 else "") if kind == next(iter(own["kinds"])) else None)
            ax.annotate(kind, (max(own["kinds"][kind]["per_hour"], 0.1), miss), fontsize=6, xytext=(3, -8), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("false activations per hour (0 drawn at 0.1)")
    ax.set_ylabel("miss rate on the held-out command stream")
    ax.set_title("livecmd listen: DET curve (labels: threshold)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="a corpus of python -m train.recipes.negatives")
    parser.add_argument("--weights", type=Path, action="append", help="weights to measure (default: the shipped speech weights)")
    parser.add_argument("--thresholds", default="0.5,0.6,0.7,0.8,0.9,0.95")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--hours", type=float, default=None, help="at most this much audio of each kind (a fixed draw of recordings)")
    parser.add_argument("--holds", default="", help="comma-separated listen --hold-ms values to sweep (default: the weights' own)")
    parser.add_argument("--max-utterance-ms", default="own", help="comma-separated listen --max-utterance-ms values to sweep (0: any length, own: the weights')")
    parser.add_argument("--room-snr-db", type=float, default=None, help="also score the benchmark talk with kitchen noise this far under it (kind 'room')")
    parser.add_argument("--stream-snr-db", type=float, default=20.0, help="the command stream's words over kitchen noise at this SNR")
    parser.add_argument("--plot", type=Path, default=None, help="PNG of the DET curve (at the first --max-utterance-ms)")
    parser.add_argument("--only", default=None, help="listen --only LABEL,...: those commands alone (the stream's others should not fire)")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    console = Console()
    results = []
    for path in args.weights or [weights.shipped("speech")]:
        holds = [float(h) for h in args.holds.split(",")] if args.holds else [None]
        utterances = tuple(None if u == "own" else float(u) for u in args.max_utterance_ms.split(","))
        result = measure(path, args.corpus, args.shared / "data", thresholds, holds, args.hours, utterances, args.room_snr_db, args.stream_snr_db,
                         args.only)
        results.append(result)
        table = Table(title=f"{path.name}: false activations per hour (listen --json --fast) and the held-out command stream")
        table.add_column("threshold", justify="right")
        table.add_column("hold ms", justify="right")
        table.add_column("max utterance ms", justify="right")
        first = result["rows"][0]["kinds"]
        for kind in first:
            table.add_column(f"{kind} ({first[kind]['hours']:.2f} h)", justify="right")
        table.add_column(f"stream found / {result['commands']}", justify="right")
        table.add_column("stream false / min", justify="right")
        for row in result["rows"]:
            s = row["stream"]
            table.add_row("own" if row["threshold"] is None else f"{row['threshold']:g}", "own" if row["hold_ms"] is None else f"{row['hold_ms']:g}", "own" if row["max_utterance_ms"] is None else f"{row['max_utterance_ms']:g}", *(f"{row['kinds'][k]['per_hour']:.1f}" for k in first),
                          f"{s['found']} ({100 * s['found'] / s['commands']:.0f}%)" if s["commands"] else "none of its words",
                          f"{s['false'] / result['stream_minutes']:.2f}")
        console.print(table)
    console.print(f"machine: {results[0]['machine']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
