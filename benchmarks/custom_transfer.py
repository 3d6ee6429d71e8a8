"""Which transfer from the shipped speech model suits `livecmd custom`: how many of its top
blocks to fine-tune (the rest frozen), measured on voices kept apart from training.

    python benchmarks/custom_transfer.py [--words "smart mirror,snowboy,view glass"] [--extract-min 5] [--fit-min 2]

One set of training windows is drawn (`train.custom.windows`) and run once through the blocks
every variant keeps frozen; each variant then fine-tunes its top blocks and a new output layer
on those for the same time, from the same shipped weights, and is scored by its balanced
accuracy on the kept-apart voices' clips (the score `custom` picks its epoch by). Fine-tuning
every block is not a variant: its backward pass through the long early sequences runs at ~9
windows/s on one core of the dev box, against ~24 windows/s for a frozen trunk's forward pass
and thousands for the top blocks alone, so it sees far fewer windows in a CPU budget.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from livecmd.vocabulary import parse_phrases  # noqa: E402
from train.custom import CustomConfig, extract, first_pass, fit_top, gather, kept_apart, start_model, windows  # noqa: E402

VARIANTS = (1, 2, 3, 4)  # top blocks fine-tuned


def deeper(model: torch.nn.Module, start: int, stop: int, features: torch.Tensor) -> torch.Tensor:
    """Features after layer `stop` from those after layer `start` (frozen layers, eval mode)."""
    with torch.no_grad():
        out = []
        for i in range(0, len(features), 256):
            x = features[i : i + 256].float()
            for layer in model.layers[start:stop]:
                x = layer.eval()(x)
            out.append(x.to(torch.float16))
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", default="smart mirror,snowboy,view glass")
    parser.add_argument("--extract-min", type=float, default=5.0, help="minutes of window extraction (shared by the variants)")
    parser.add_argument("--fit-min", type=float, default=2.0, help="minutes of fine-tuning per variant")
    args = parser.parse_args()
    console = Console()
    config = CustomConfig(words=args.words, out=Path("unused"))
    with tempfile.TemporaryDirectory() as tmp:
        sources = gather(config, parse_phrases(args.words), Path(tmp), console)
        base_model = start_model(None, len(sources.labels))
        base = len(base_model.layers) - max(VARIANTS)
        x, y = extract(base_model, base, windows(sources, 0), first_pass(sources), args.extract_min * 60, console)
        vx, vy = kept_apart(sources, base_model, base)
    table = Table(title=f"{len(y):,} training windows, {len(vy)} kept-apart clips; {args.fit_min:g} min of fine-tuning each")
    for column in ("blocks fine-tuned", "frozen", "kept-apart balanced accuracy", "epochs averaged", "epochs run"):
        table.add_column(column, justify="right")
    for trainable in VARIANTS:
        model = start_model(None, len(sources.labels))
        frozen = len(model.layers) - trainable
        started = time.monotonic()
        result = fit_top(model, frozen, (deeper(model, base, frozen, x), y), (deeper(model, base, frozen, vx), vy),
                         args.fit_min * 60, console, seed=0)
        table.add_row(str(trainable), f"stem + {frozen - 1} blocks", f"{result['score']:.3f}", str(result["averaged"]),
                      f"{result['epochs']} ({time.monotonic() - started:.0f} s)")
    console.print(table)


if __name__ == "__main__":
    main()
