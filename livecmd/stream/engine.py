"""Inference: windows in, scores out, on the CPU or a CUDA GPU.

The listen loop sees an engine only as a callable from windows (batch, samples) float32 numpy
to scores (batch, labels) float32 numpy in [0, 1], with a `warm_up()`. Three engines, chosen
with `--engine` (`make_engine`):

- `torch`: the model's own forward in fp32, batched, on the CPU or a CUDA GPU (`TorchEngine`);
  the reference the others are checked against.
- `folded`: SampleCNN folded into time-major matrix products (`livecmd.stream.folded`), in
  bf16 on CPUs with bf16 matrix units, each window computed in full, at any hop.
- `cached`: `folded` plus a cache of the rows that consecutive windows share
  (`livecmd.stream.overlap`), with the hop rounded to the row grid of its `CACHED_LAYERS`.

`auto` picks `cached` on a CPU for SampleCNN (the same decisions as a full forward on real
speech, at the hop rounded to its grid: 100 ms -> 101.25 ms; `--engine folded` keeps the hop
exact) and `torch` otherwise (CUDA, ReSE-2-Multi).
Measured on the 2-core dev box (speech SampleCNN, one thread, `benchmarks/listen_speed.py`,
`listen --fast` on 2 minutes of real speech): cached ≈ 2,000 windows/s at a 101.25 ms hop and
≈ 3,700 at 10.125 ms, folded ≈ 340, torch ≈ 115, against ≈ 90-130 for the naive batch-1
forward; the same detections as the naive forward.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from contextlib import nullcontext
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from livecmd.errors import LivecmdError
from livecmd.models import probabilities
from livecmd.compute import cpu_has_bf16
from livecmd.stream.folded import fold
from livecmd.stream.overlap import FoldedEngine

Engine = Callable[[np.ndarray], np.ndarray]
"""(batch, samples) float32 windows → (batch, labels) float32 scores."""

CUDA_STREAMS = 3
"""Streams on a GPU: enough for one chunk's copy to overlap the previous chunk's compute."""

CPU_CHUNK = 4
"""Windows per forward pass on a CPU: the fastest on a 2-core dev box, SampleCNN speech with
the heap kept (`keep_heap`), side by side: batch 1 ≈ 200, 2 ≈ 220, 4 ≈ 235, 16 ≈ 220
windows/s (a batch's activations, ≈ 2.7 MB a window after the stem, outgrow the caches)."""

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def keep_heap() -> None:
    """Ask glibc's malloc to keep the memory a forward pass frees instead of giving it back to
    the system; a no-op under other C libraries.

    Activations of megabytes are allocated and freed on every pass. By default glibc returns
    such blocks (mmap, heap trimming) and the next pass page-faults them in again: measured on
    the 2-core dev box, about 4,000 faults a window and half the throughput (SampleCNN speech,
    batch 1: ≈ 100 windows/s against ≈ 210 with the heap kept). The process then holds its
    peak activation memory (tens of MB), which a recognizer needs again every 100 ms anyway.
    """
    libc_name = ctypes.util.find_library("c")
    if libc_name is None or platform.libc_ver()[0] != "glibc":
        return
    libc = ctypes.CDLL(libc_name)
    libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # blocks up to 32 MB (glibc's most) come from the heap...
    libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)  # ... and stay there when freed


def describe(device: torch.device) -> str:
    """The device as the live view and the summary name it: `cpu`, `cuda:0 (NVIDIA H100 ...)`."""
    return f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else str(device)


class TorchEngine:
    """A model run in inference mode on `device`, taking whatever batch of windows is waiting.

    The batch is cut into chunks that go round a small pool of slots; each slot has its own
    host buffers and, on CUDA, its own stream. On a GPU the batch is spread over the streams,
    the host buffers are pinned and the copies non-blocking, so one chunk's copy in overlaps
    the previous chunk's compute. On a CPU the chunks are `CPU_CHUNK` windows, one slot, no
    streams: the same code, which is how the CUDA path's bookkeeping is tested without a GPU.
    """

    def __init__(
        self, model: nn.Module, device: torch.device, multi_label: bool, input_samples: int,
        n_labels: int, max_batch: int = 16, slots: int | None = None, chunk: int | None = None,
    ):
        self.device = device
        self.multi_label = multi_label
        self.max_batch = max_batch
        self.name = "torch fp32"
        self.model = model.to(device).eval()
        cuda = device.type == "cuda"
        slots = slots if slots is not None else (CUDA_STREAMS if cuda else 1)
        self._chunk = chunk if chunk is not None else (-(-max_batch // slots) if cuda else min(CPU_CHUNK, max_batch))
        self._streams = [torch.cuda.Stream(device) if cuda else None for _ in range(slots)]
        for stream in self._streams:
            if stream is not None:
                stream.wait_stream(torch.cuda.current_stream(device))  # the weights are on the device
        self._inputs = [torch.empty((self._chunk, input_samples), pin_memory=cuda) for _ in range(slots)]
        self._outputs = [torch.empty((self._chunk, n_labels), pin_memory=cuda) for _ in range(slots)]
        self._done = [torch.cuda.Event() if cuda else None for _ in range(slots)]

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """Scores of (batch, samples) float32 windows, batch ≤ max_batch, as (batch, labels)."""
        n = len(windows)
        if n > self.max_batch:
            raise ValueError(f"a batch of {n} windows is more than this engine's {self.max_batch}")
        scores = np.empty((n, self._outputs[0].shape[1]), dtype=np.float32)
        slots = len(self._streams)
        chunk = min(self._chunk, max(1, -(-n // slots)))  # a small batch still spreads over the slots
        pending: dict[int, tuple[int, int]] = {}  # slot → the rows of `scores` it is computing
        with torch.inference_mode():
            for i, start in enumerate(range(0, n, chunk)):
                slot = i % slots
                if slot in pending:  # its buffers are about to be reused: collect its scores first
                    self._collect(slot, *pending.pop(slot), scores)
                stop = min(start + chunk, n)
                self._launch(slot, windows[start:stop])
                pending[slot] = (start, stop)
            for slot, (start, stop) in pending.items():
                self._collect(slot, start, stop, scores)
        return scores

    def _launch(self, slot: int, windows: np.ndarray) -> None:
        """Copy `windows` in, run the model and start the copy of the scores out, on `slot`'s
        stream; on CUDA this returns before the GPU is done."""
        host_in = self._inputs[slot][: len(windows)]
        host_in.numpy()[:] = windows
        stream = self._streams[slot]
        with torch.cuda.stream(stream) if stream is not None else nullcontext():
            x = host_in.to(self.device, non_blocking=True)
            out = probabilities(self.model(x), self.multi_label)
            self._outputs[slot][: len(windows)].copy_(out, non_blocking=True)
            if stream is not None:
                self._done[slot].record(stream)

    def _collect(self, slot: int, start: int, stop: int, scores: np.ndarray) -> None:
        """Wait for `slot`'s scores and copy them into rows start:stop of `scores`."""
        done = self._done[slot]
        if done is not None:
            done.synchronize()
        scores[start:stop] = self._outputs[slot][: stop - start].numpy()

    def warm_up(self) -> None:
        """One batch of silence, so the first real window does not pay for lazy initialisation
        (cuDNN handles, allocator pools) in its latency."""
        self(np.zeros((1, self._inputs[0].shape[1]), dtype=np.float32))


ENGINES = ("auto", "cached", "folded", "torch")
"""`--engine` choices; `auto` is `cached` on a CPU for SampleCNN, `torch` otherwise."""

CACHED_LAYERS = 4
"""The `cached` engine rounds its hop to the row stride of the model's first this many layers
(SampleCNN: the stem and three blocks, 3^4 = 81 samples, 5.06 ms at 16 kHz), so that their rows,
and the next block's conv outputs, lie on one grid for all windows and come from the cache: a
window at a 101.25 ms hop then costs about 15% of a full forward (speech SampleCNN). A deeper
grid would save little more and round the hop by up to 7.6 ms."""

PRECISIONS = ("auto", "bf16", "fp32")
"""`--precision` of the folded engines; `auto` is bf16 on CPUs with bf16 matrix units."""


def choose_engine(kind: str, precision: str, foldable: bool, device: torch.device) -> str:
    """The engine `--engine kind` means for a model (`foldable`: a SampleCNN) on `device`;
    a user error for a choice that cannot run there."""
    if kind not in ENGINES:
        raise LivecmdError(f"unknown --engine {kind!r}: choose one of {', '.join(ENGINES)}")
    if precision not in PRECISIONS:
        raise LivecmdError(f"unknown --precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if kind == "auto":
        # cached: the same decisions as full recompute on real speech (docs/performance.md), at a
        # hop rounded to its grid (100 ms -> 101.25 ms); --engine folded keeps it exact.
        kind = "cached" if device.type == "cpu" and foldable else "torch"
    if kind == "torch":
        if precision == "bf16":
            raise LivecmdError("--precision bf16 is for the cached and folded engines; the torch engine computes in fp32")
        return kind
    if device.type != "cpu":
        raise LivecmdError(f"--engine {kind} runs on the CPU: add --device cpu, or use --engine torch on {device}")
    if not foldable:
        raise LivecmdError(f"--engine {kind} runs SampleCNN weights only: use --engine torch for these")
    return kind


def engine_hop(kind: str, hop: int, length: int, strides: Sequence[int] = ()) -> int:
    """The hop in samples that `kind` scores windows at for a requested `hop` (0 < hop ≤
    length): for `cached`, the nearest multiple within the window of the row stride of the
    model's first `CACHED_LAYERS` layers (`strides`: the model's `strides()`); `hop` itself for
    the others."""
    if kind != "cached" or len(strides) < CACHED_LAYERS or length < strides[CACHED_LAYERS - 1]:
        return hop
    grid = strides[CACHED_LAYERS - 1]
    return min(max(1, round(hop / grid)), length // grid) * grid


def make_engine(
    kind: str, model: nn.Module, device: torch.device, multi_label: bool, input_samples: int,
    n_labels: int, max_batch: int, hop: int, precision: str = "auto",
) -> TorchEngine | FoldedEngine:
    """The engine `kind` (a choice `choose_engine` returned) for `model`, windows of
    `input_samples` samples every `hop` samples. The folded engines compute in `precision`;
    `auto` is bf16 where the CPU has bf16 matrix units (4-5× fp32's speed there; scores within
    ≈ 0.005 of fp32's) and fp32 elsewhere (bf16 without those units is slower than fp32)."""
    if kind == "torch":
        return TorchEngine(model, device, multi_label, input_samples, n_labels, max_batch)
    bf16 = precision == "bf16" or (precision == "auto" and cpu_has_bf16())
    dtype = torch.bfloat16 if bf16 else torch.float32
    folded = fold(model.eval(), input_samples, dtype)
    return FoldedEngine(folded, multi_label, max_batch, hop if kind == "cached" else None)
