"""Inference: windows in, scores out, on the CPU or a CUDA GPU.

The listen loop sees an engine only as a callable from windows (batch, samples) float32 numpy
to scores (batch, labels) float32 numpy in [0, 1]; a faster engine (bf16, ONNX Runtime, a
streaming cache) can replace `TorchEngine` without touching the loop.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from contextlib import nullcontext
from typing import Callable

import numpy as np
import torch
from torch import nn

from livecmd.models import probabilities

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
