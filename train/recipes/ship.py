"""Turn a training run's best weights into the shipped file, with its held-out figure inside.

    python -m train.recipes.ship RUN/best.safetensors PART_A_FOLDER weights/speech-samplecnn.safetensors

Scores the weights on part A's held-out speakers (`livecmd eval --split valid`, fp32 so the
figure is the same on every CPU), stores the accuracy in the weights' metadata (the model card
quotes it and a test re-measures it) and writes the full result, confusion matrix included,
beside the weights as `<name>.eval.json`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from livecmd import weights
from train.evaluate import evaluate

TRAINING_DATA = (
    "Speech Commands v0.02 12-class test set part A (90% of its speakers), Speech Commands v0.01 "
    "sample and its _background_noise_, livecmd synth words from offline TTS voices; CC BY 4.0 (Speech Commands)"
)


def ship(best: Path, part_a: Path, out: Path) -> dict:
    result = evaluate("speech", part_a, best, split="valid", amp="off")
    loaded = weights.load(best)
    metrics = {
        **loaded.meta.metrics,
        "part_a_held_out_accuracy": result["accuracy"],
        "part_a_held_out_clips": result["clips"],
    }
    meta = dataclasses.replace(loaded.meta, training_data=TRAINING_DATA, metrics=metrics)
    weights.save(out, loaded.model, meta)
    out.with_suffix(".eval.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.split("\n\n")[1].strip())
    ship(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
