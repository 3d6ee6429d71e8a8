"""Turn trained weights (a run's best, or the recipe's average of several) into the shipped
file, with its measured figures inside.

    python -m train.recipes.ship WEIGHTS SHARED_DATA weights/speech-samplecnn.safetensors
        [--negatives NEG/train] [--hours 0.25] [--thresholds 0.5,...] [--holds 0,...]
        [--label-steps 0.6,...] [--max-utterance-ms 1200] [--peak-ms 100]

SHARED_DATA is the folder of real audio (../shared/data). Two measurements, both stored in the
weights' metadata (the model card quotes them and the tests re-measure them):

1. Clip accuracy on part A's held-out speakers: `livecmd eval --split valid`, fp32 so that the
   figure is the same on every CPU. The full result, confusion matrix included, goes beside the
   weights as `<name>.eval.json`.
2. listen's operating point: `livecmd listen --json --fast` on a stream of those speakers' words
   over real noise, leaving out the demo clip's speakers so that the demo stays an independent
   check (train.streams), and, with `--negatives`, on a fixed draw of `--hours` of each kind of
   the negative corpus's *training* part (its benchmark part stays unseen by every choice made
   here). The threshold and hold that find the most commands within the stream's false-event
   budget and the negatives' budgets per hour (`train.streams.choose`) become `listen.threshold`
   and `listen.hold_ms`, the defaults of `livecmd listen` with these weights; while the
   negatives stay over their budgets, the thresholds of the words they fire most are raised one
   at a time to one of `--label-steps` (`train.streams.raise_labels`), as `listen.thresholds`.
   All of it with `--max-utterance-ms` (`livecmd.stream.utterance`) and `--peak-ms`
   (`livecmd.stream.decide`: peak picking), stored as `listen.max_utterance_ms` and
   `listen.peak_ms`: settings, not tuned (the recipe says why they are what they are).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from livecmd import weights
from train import streams
from train.datasets import negatives
from train.evaluate import evaluate

TRAINING_DATA = (
    "Speech Commands v0.02 12-class test set part A (90% of its speakers), Speech Commands v0.01 "
    "sample and its _background_noise_, 4,966 more Speech Commands clips of 1,047 training speakers "
    "(at most 200 a word), livecmd synth words from offline TTS voices; CC BY 4.0 (Speech Commands); "
    "negatives: the training part of train.recipes.negatives (Debian game music, TTS voices reading "
    "fortunes without commands, game sound effects, speech over music) and hard negatives mined from it"
)


def ship(trained: Path, data: Path, out: Path, negative_folder: Path | None = None, hours: float = 0.25,
         thresholds: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9), holds: tuple[float, ...] = (0.0,),
         label_steps: tuple[float, ...] = (), max_utterance_ms: float = 0.0, peak_ms: float = 0.0) -> dict:
    result = evaluate("speech", data / streams.PART_A, trained, split="valid", amp="off")
    mix, truth = streams.tuning_stream(data)
    drawn = negatives.draw(negatives.find([negative_folder]).recordings, hours) if negative_folder else []
    best, tuning, raised = streams.tune_operating_point(mix, truth, trained, drawn, thresholds, holds, label_steps,
                                                        max_utterance_ms=max_utterance_ms, peak_ms=peak_ms)
    loaded = weights.load(trained)
    metrics = {
        **loaded.meta.metrics,
        "part_a_held_out_accuracy": result["accuracy"],
        "part_a_held_out_clips": result["clips"],
    }
    hours_by_kind = {kind: sum(r.seconds for r in drawn if r.kind == kind) / 3600 for kind in sorted({r.kind for r in drawn})}
    negatives_note = ("; and at most " + ", ".join(f"{streams.NEGATIVE_BUDGET_PER_HOUR[k]:g} false activations an hour on {h:.2f} h of {k}"
                                                    for k, h in hours_by_kind.items())
                      + " of the negative corpus's training part") if drawn else ""
    listen = {
        "threshold": best["threshold"],
        "hold_ms": best["hold_ms"],
        "max_utterance_ms": max_utterance_ms,
        "peak_ms": peak_ms,
        "thresholds": best.get("thresholds", {}),
        "tuned_on": f"listen --fast on {len(truth)} words of {len({t['speaker'] for t in truth})} held-out part A speakers "
                    f"(not the demo's) over real noise at 20 dB; most commands found with at most "
                    f"{streams.FALSE_PER_COMMAND:.3f} false events per command{negatives_note}",
        "tuning": tuning,
        "raised": raised,
    }
    meta = dataclasses.replace(loaded.meta, training_data=TRAINING_DATA, metrics=metrics, extra={**loaded.meta.extra, "listen": listen})
    weights.save(out, loaded.model, meta)
    out.with_suffix(".eval.json").write_text(json.dumps({**result, "listen": listen}, indent=1) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trained", type=Path)
    parser.add_argument("data", type=Path, help="the folder of real audio (../shared/data)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--negatives", type=Path, help="the negative corpus's training part (NEG/train)")
    parser.add_argument("--hours", type=float, default=0.25, help="hours of each kind of negative to tune on")
    parser.add_argument("--thresholds", default="0.5,0.6,0.7,0.8,0.9")
    parser.add_argument("--holds", default="0", help="listen --hold-ms values to tune over")
    parser.add_argument("--label-steps", default="", help="per-label thresholds to raise words to while the negatives are over budget")
    parser.add_argument("--max-utterance-ms", type=float, default=0.0,
                        help="listen's longest run of voice a command may be part of (0: any length), stored with the rest and tuned under")
    parser.add_argument("--peak-ms", type=float, default=0.0,
                        help="listen's peak picking wait (0: fire at the hold), stored with the rest and tuned under")
    args = parser.parse_args()
    ship(args.trained, args.data, args.out, args.negatives, args.hours,
         tuple(float(t) for t in args.thresholds.split(",")), tuple(float(h) for h in args.holds.split(",")),
         tuple(float(t) for t in args.label_steps.split(",") if t), args.max_utterance_ms, args.peak_ms)


if __name__ == "__main__":
    main()
