"""Turn trained weights (a run's best, or the recipe's average of several) into the shipped
file, with its measured figures inside.

    python -m train.recipes.ship WEIGHTS SHARED_DATA weights/speech-samplecnn.safetensors [HOLD_MS]

SHARED_DATA is the folder of real audio (../shared/data). Two measurements, both on part A's
held-out speakers, and both stored in the weights' metadata (the model card quotes them and the
tests re-measure them):

1. Clip accuracy: `livecmd eval --split valid`, fp32 so that the figure is the same on every CPU.
   The full result, confusion matrix included, goes beside the weights as `<name>.eval.json`.
2. The listen threshold: `livecmd listen --json --fast` on a stream of those speakers' words
   over real noise, leaving out the demo clip's speakers so that the demo stays an independent
   check (train.streams); the threshold that finds the most commands within the false-event
   budget becomes `listen.threshold`, the default of `livecmd listen` with these weights.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from livecmd import weights
from train import streams
from train.evaluate import evaluate

TRAINING_DATA = (
    "Speech Commands v0.02 12-class test set part A (90% of its speakers), Speech Commands v0.01 "
    "sample and its _background_noise_, 4,966 more Speech Commands clips of 1,047 training speakers "
    "(at most 200 a word), livecmd synth words from offline TTS voices; CC BY 4.0 (Speech Commands); "
    "negatives: the training part of train.recipes.negatives (Debian game music, TTS voices reading "
    "fortunes without commands, game sound effects, speech over music) and hard negatives mined from it"
)


def ship(trained: Path, data: Path, out: Path, hold_ms: float = 0.0) -> dict:
    result = evaluate("speech", data / streams.PART_A, trained, split="valid", amp="off")
    mix, truth = streams.tuning_stream(data)
    threshold, tuning = streams.tune_threshold(mix, truth, trained, hold_ms=hold_ms)
    loaded = weights.load(trained)
    metrics = {
        **loaded.meta.metrics,
        "part_a_held_out_accuracy": result["accuracy"],
        "part_a_held_out_clips": result["clips"],
    }
    listen = {
        "threshold": threshold,
        "hold_ms": hold_ms,
        "tuned_on": f"listen --fast on {len(truth)} words of {len({t['speaker'] for t in truth})} held-out part A speakers "
                    f"(not the demo's) over real noise at 20 dB; most commands found with at most "
                    f"{streams.FALSE_PER_COMMAND:.3f} false events per command",
        "tuning": tuning,
    }
    meta = dataclasses.replace(loaded.meta, training_data=TRAINING_DATA, metrics=metrics, extra={**loaded.meta.extra, "listen": listen})
    weights.save(out, loaded.model, meta)
    out.with_suffix(".eval.json").write_text(json.dumps({**result, "listen": listen}, indent=1) + "\n")
    return result


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__.split("\n\n")[1].strip())
    ship(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), *(float(a) for a in sys.argv[4:]))
