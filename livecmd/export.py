"""`livecmd export`: a weights file → an ONNX model, checked against torch with onnxruntime.

The ONNX model takes `waveform`, (batch, samples) float32 at the weights' sample rate, and gives
`logits`, (batch, labels). Everything a consumer needs to use it (labels in output order, sample
rate, input samples, whether scores are a softmax or per-label sigmoids) is in the model's
metadata_props, each value JSON-encoded as in the weights file.

onnx, onnxscript (which torch's exporter needs) and onnxruntime are the optional extra
`livecmd[export]`; nothing else in livecmd imports them.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from torch import nn

from livecmd.domains import get_domain
from livecmd.errors import LivecmdError
from livecmd.weights import WeightsMeta, load

FORMATS = ("onnx",)
INPUT_NAME = "waveform"
OUTPUT_NAME = "logits"
CHECK_BATCHES = (1, 4)
"""Batch sizes a dynamic-batch export is checked at against torch."""


@dataclass(frozen=True)
class ExportCheck:
    path: Path
    batch: int | None  # None: any batch size
    max_abs_diff: dict[int, float]  # batch size → max |onnxruntime - torch| of the logits on random input


def parse_batch(text: str) -> int | None:
    """'dynamic' → None (any batch size); 'N' → a fixed batch of N."""
    if text == "dynamic":
        return None
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise LivecmdError(f"--batch {text!r}: give 'dynamic' or a positive batch size such as 1")


def metadata(meta: WeightsMeta) -> dict[str, str]:
    """The ONNX metadata_props: the weights' metadata plus the tensor names and the score function."""
    scores = "sigmoid" if get_domain(meta.domain).multi_label else "softmax"
    extra = {"input_name": INPUT_NAME, "output_name": OUTPUT_NAME, "scores": scores}
    return meta.to_strings() | {k: json.dumps(v) for k, v in extra.items()}


def to_onnx(model: nn.Module, meta: WeightsMeta, out: str | Path, batch: int | None = None) -> Path:
    """Write `model` (eval mode, CPU) as ONNX to `out`, atomically (temp file + rename).

    `batch` None makes the batch dimension dynamic. Uses torch's torch.export-based exporter
    (the TorchScript one is deprecated); the example batch is 2 for a dynamic export because
    torch.export specializes sizes 0 and 1.
    """
    onnx, _ = _onnx_modules()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(batch or 2, meta.input_samples)
    dynamic = None if batch else ({0: torch.export.Dim("batch")},)
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)  # "torchvision is not installed": irrelevant here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.export's own deprecations
            program = torch.onnx.export(
                model.cpu().eval(), (example,), dynamo=True, verbose=False,
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamic_shapes=dynamic,
            )
    finally:
        registration.setLevel(level)
    proto = program.model_proto
    onnx.helper.set_model_props(proto, metadata(meta))
    proto.doc_string = f"livecmd {meta.domain} {meta.arch}: {INPUT_NAME} (batch, {meta.input_samples}) float32 → {OUTPUT_NAME}"
    onnx.checker.check_model(proto)
    tmp = out.with_name(out.name + ".tmp")
    onnx.save(proto, str(tmp))
    os.replace(tmp, out)
    return out


def compare_with_torch(path: str | Path, model: nn.Module, input_samples: int, batches: tuple[int, ...]) -> dict[int, float]:
    """Max absolute difference of the logits, onnxruntime vs torch, on seeded random input."""
    _, ort = _onnx_modules()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    diffs = {}
    for batch in batches:
        x = torch.randn(batch, input_samples, generator=generator)
        (onnx_logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})
        with torch.no_grad():
            torch_logits = model(x).numpy()
        diffs[batch] = float(np.abs(onnx_logits - torch_logits).max())
    return diffs


def export(
    weights: str | Path,
    out: str | Path,
    fmt: str = "onnx",
    batch: str = "dynamic",
    console: Console | None = None,
) -> ExportCheck:
    """`livecmd export`: write the ONNX file, then check it against torch and print the result."""
    console = console or Console()
    if fmt not in FORMATS:
        raise LivecmdError(f"--format {fmt!r} is not supported: choose one of {', '.join(FORMATS)}")
    fixed = parse_batch(batch)
    _onnx_modules()
    loaded = load(weights, "cpu")
    with console.status(f"exporting {weights} to ONNX"):
        path = to_onnx(loaded.model, loaded.meta, out, fixed)
    with console.status("checking with onnxruntime"):
        diffs = compare_with_torch(path, loaded.model, loaded.meta.input_samples, (fixed,) if fixed else CHECK_BATCHES)
    shape = f"({fixed or 'batch'}, {loaded.meta.input_samples})"
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): {INPUT_NAME} {shape} float32 → {OUTPUT_NAME} ({len(loaded.meta.labels)})")
    for size, diff in diffs.items():
        console.print(f"onnxruntime vs torch, batch {size}: max |difference| = {diff:.2e}")
    return ExportCheck(path, fixed, diffs)


def _onnx_modules():
    """(onnx, onnxruntime), or a LivecmdError saying how to install them."""
    try:
        import onnx
        import onnxruntime
        import onnxscript  # noqa: F401  (torch's exporter imports it; fail here, clearly, instead)
    except ImportError:
        raise LivecmdError("ONNX export needs onnx, onnxscript and onnxruntime: pip install 'livecmd[export]'") from None
    return onnx, onnxruntime
