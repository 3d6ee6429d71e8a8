"""Training speed per domain: samples/s of the training step, and of the data pipeline alone.

    python benchmarks/train_speed.py [--device cpu] [--arch samplecnn] [--amp auto] [--steps 5]

The step is the one train/fit.py runs: autocast forward at the domain's real input length,
loss, backward, SGD (Nesterov) update, batch 23. The data figure is the shared Dataset reading
training windows as an epoch reads them (speech: random, with augmentation; mtat and dcase:
every segment) from a decoded cache of synthetic clips as long as the
domain's real ones, in this process: one loader worker delivers at least this rate, so when it
is far above the step's, data is not the bottleneck. Prints the command and the machine first.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from livecmd.compute import cpu_name, pick_device  # noqa: E402
from livecmd.domains import DOMAINS, Domain  # noqa: E402
from livecmd.models import ARCHS, build_model  # noqa: E402
from train import cache, precision  # noqa: E402
from train.augment import Augmentation  # noqa: E402
from train.datasets import Clip  # noqa: E402
from train.datasets.windows import Windows  # noqa: E402

CLIP_SECONDS = {"speech": 1.0, "mtat": 29.1, "dcase": 10.0}  # the real clips' lengths


def machine(device: torch.device) -> str:
    cpu = cpu_name()
    gpu = f", GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads){gpu}"


def step_rate(domain: Domain, arch: str, device: torch.device, dtype: torch.dtype | None, batch: int, steps: int) -> float:
    """Training samples/s of the training step alone (inputs already on the device)."""
    torch.manual_seed(0)
    model = build_model(domain, arch).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(batch, domain.input_samples, device=device) * 0.1
    if domain.multi_label:
        y, loss_fn = (torch.rand(batch, len(domain.labels), device=device) < 0.1).float(), torch.nn.BCEWithLogitsLoss()
    else:
        y, loss_fn = torch.randint(0, len(domain.labels), (batch,), device=device), torch.nn.CrossEntropyLoss()

    def one_step() -> None:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):  # warm-up: kernel selection, allocator
        one_step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        one_step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def data_rate(domain: Domain, folder: Path, items: int = 400) -> float:
    """Windows/s the Dataset serves from the decoded cache (one process)."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(8):
        paths.append(folder / f"{domain.name}-{i}.wav")
        sf.write(paths[-1], rng.normal(0, 0.1, round(CLIP_SECONDS[domain.name] * domain.sample_rate)).astype(np.float32), domain.sample_rate)
    built = cache.build(paths, domain.sample_rate, folder / "cache")
    speech = domain.name == "speech"
    data = Windows(built, [Clip(p, (domain.labels[0],)) for p in paths] * 50, domain.input_samples, labels=domain.labels,
                   multi_label=domain.multi_label, train=True, augmentation=Augmentation() if speech else None,
                   noise=[Clip(p, ()) for p in paths] if speech else (), segments=domain.segments,
                   epoch_windows=domain.setting("epoch_windows", None))
    data[0]
    start = time.perf_counter()
    for i in range(items):
        data[i % len(data)]
    return items / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--arch", default="samplecnn", choices=list(ARCHS))
    parser.add_argument("--amp", default="auto", choices=precision.AMP_CHOICES)
    parser.add_argument("--batch", type=int, default=23)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--domains", default=",".join(DOMAINS))
    args = parser.parse_args()
    device = pick_device(args.device)
    dtype = precision.autocast_dtype(device, args.amp)
    console = Console()
    console.print(f"command: python {' '.join(sys.argv)}", soft_wrap=True, highlight=False)
    console.print(f"machine: {machine(device)}", soft_wrap=True, highlight=False)
    table = Table(title=f"training speed, {args.arch}, batch {args.batch}, {device}, {precision.name(dtype)}")
    for column in ("domain", "input samples", "train samples/s", "data windows/s"):
        table.add_column(column, justify="right" if column != "domain" else "left")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.domains.split(","):
            domain = DOMAINS[name]
            train = step_rate(domain, args.arch, device, dtype, args.batch, args.steps)
            data = data_rate(domain, Path(tmp))
            table.add_row(name, f"{domain.input_samples:,}", f"{train:,.1f}", f"{data:,.0f}")
    console.print(table)


if __name__ == "__main__":
    main()
