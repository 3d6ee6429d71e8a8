"""Scoring consecutive windows without recomputing their overlap: the `cached` engine.

Windows that end every `hop` samples share all but a hop of their samples. In SampleCNN the
stem (layer 0) gives one row per 3 samples and block k one row per 3^(k+1) samples, so when
the hop is a multiple of 3^(k+1) every window's rows at layer k lie on one grid: the rows of
a single edge-free stream. Those rows are computed once, as the samples arrive, and each window
takes its rows from the stream. Only a few rows differ from the stream's, at each window's two
edges, and are recomputed per window:

- at the left edge, the first conv output sees the window's zero padding ("same" conv) where
  the stream has the previous sample's row;
- at the right edge, the last conv output sees the zero padding too, and the last pool group
  is partial (ceil mode) where the stream's group is whole.

`clean_rows` works out exactly which rows those are, layer by layer: a row equals the
stream's when every row it is computed from does and none of them is padding. The first block
whose pooled rows are too sparse for the hop's grid still has its conv outputs on it (the conv
has stride 1): those are cached too, and pooled per window. Deeper blocks are computed in full
from the window's rows. At a 1,620-sample hop (101.25 ms) that leaves about 15% of a window's
multiply-adds to compute; `livecmd.stream.engine.engine_hop` rounds a hop to such a grid.
The windows' samples tell whether they are consecutive (each window's first samples equal
the previous window's last ones): the cache is used then and rebuilt when they are not (the
first window, audio dropped by a reader that fell behind), so the scores never depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from livecmd.models import probabilities
from livecmd.stream import folded as fd
from livecmd.stream.folded import TAPS, Folded

FULL_CHUNK = 2
"""Windows per pass when each is computed in full (a batch's activations outgrow the caches).
Measured on the 2-core dev box, one thread, windows/s at batch 1, 2, 4, 16: bf16 ≈ 350, 370,
380, 170; fp32 ≈ 130, 105, 90, 60."""


@dataclass(frozen=True)
class Rows:
    """Layer k's rows for one window: `length` rows, of which [clean_from, clean_to) equal
    the stream's rows; `stride` samples per row."""

    length: int
    clean_from: int
    clean_to: int
    stride: int


def clean_rows(folded: Folded, hop: int) -> list[Rows]:
    """The layers whose rows can come from the stream at this hop (stem first), with their
    clean rows: a layer qualifies when the hop is a multiple of its stride and it keeps
    clean rows to build the next layer's edges from. Empty when the hop is not a multiple of 3.

    Stem: row j is samples 3j..3j+2, all clean. Block on rows clean in [a, b) of L: conv
    output c is clean when rows c-1..c+1 are (none of them padding): [a + 1, b - 1); pool
    group m (conv outputs 3m..3m+2) when all three are: [ceil((a + 1) / 3), floor((b - 1) / 3)).
    """
    lengths = folded.lengths()
    layers = [Rows(lengths[0], 0, lengths[0], TAPS)] if hop % TAPS == 0 else []
    for length in lengths[1:]:
        last = layers[-1] if layers else None
        if last is None or hop % (last.stride * TAPS):
            break
        clean_from, clean_to = -(-(last.clean_from + 1) // TAPS), (last.clean_to - 1) // TAPS
        if clean_to - clean_from < 2 or TAPS * clean_from + 1 > last.clean_to:
            break  # too short to hold both edges apart: compute it in full
        layers.append(Rows(length, clean_from, clean_to, last.stride * TAPS))
    return layers


class _Stream:
    """One layer's rows of the edge-free stream, (rows, channels), kept from stream row `lo`
    to `hi` (exclusive) in a buffer that grows at the end and is trimmed at the front."""

    def __init__(self, lo: int):
        self.lo = self.hi = lo
        self._buffer: torch.Tensor | None = None
        self._start = 0  # buffer row of stream row `lo`

    def rows(self, start: int, stop: int) -> torch.Tensor:
        """Stream rows [start, stop), a contiguous view."""
        assert self.lo <= start <= stop <= self.hi, (start, stop, self.lo, self.hi)
        return self._buffer[self._start + start - self.lo : self._start + stop - self.lo]

    def windows(self, first: int, step: int, count: int, start: int, stop: int) -> torch.Tensor:
        """Rows [start, stop) of `count` windows whose row 0 is stream row first + i·step, as a
        (count, stop - start, channels) view."""
        assert self.lo <= first + start and first + (count - 1) * step + stop <= self.hi
        channels = self._buffer.shape[1]
        offset = (self._start + first + start - self.lo) * channels
        return self._buffer.as_strided((count, stop - start, channels), (step * channels, channels, 1), offset)

    def append(self, new: torch.Tensor) -> None:
        """Add stream rows [hi, hi + len(new))."""
        held, n = self.hi - self.lo, len(new)
        if self._buffer is None or self._start + held + n > len(self._buffer):
            capacity = max(2 * (held + n), 1024)
            if self._buffer is None or capacity > len(self._buffer):
                grown = new.new_empty((capacity, new.shape[1]))
            else:
                grown = self._buffer
            if held:
                grown[:held] = self._buffer[self._start : self._start + held].clone()
            self._buffer, self._start = grown, 0
        self._buffer[self._start + held : self._start + held + n] = new
        self.hi += n

    def trim(self, keep_from: int) -> None:
        """Forget the rows before stream row `keep_from`."""
        keep_from = min(max(keep_from, self.lo), self.hi)
        self._start += keep_from - self.lo
        self.lo = keep_from


class FoldedEngine:
    """The folded SampleCNN as an engine: (batch, samples) float32 windows → (batch, labels)
    scores. With `hop` (samples between consecutive windows' ends), the layers whose rows the
    hop keeps on one grid come from a cache of the stream's rows (see the module docstring);
    without it, or when the hop is not a multiple of 3, every window is computed in full.
    """

    def __init__(self, folded: Folded, multi_label: bool, max_batch: int = 16, hop: int | None = None):
        self.folded = folded
        self.multi_label = multi_label
        self.max_batch = max_batch
        self.hop = hop
        self.layers = clean_rows(folded, hop) if hop is not None and hop < folded.input_samples else []
        # the block after the cached layers has its conv outputs on their grid too (its pooling
        # does not: that is per window)
        self._conv_block = len(self.layers) - 1 if self.layers and len(self.layers) <= len(folded.blocks) else None
        self._tail: np.ndarray | None = None  # the last window's samples after its first hop
        self._streams: list[_Stream] = []
        self._conv: _Stream | None = None  # conv outputs of `_conv_block`
        self._samples = np.zeros(0, dtype=np.float32)  # stream samples not yet taken by the stem
        self._next = 0  # stream position of the window expected next

    @property
    def name(self) -> str:
        """As the live view and the summary show it: `cached bf16`, `folded fp32`."""
        precision = "bf16" if self.folded.dtype == torch.bfloat16 else "fp32"
        return f"{'cached' if self.layers else 'folded'} {precision}"

    @property
    def cached_layers(self) -> int:
        """How many layers (the stem and the first blocks) come from the cache."""
        return len(self.layers)

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """Scores of (batch, samples) float32 windows, batch ≤ max_batch, as (batch, labels)."""
        n = len(windows)
        if n > self.max_batch:
            raise ValueError(f"a batch of {n} windows is more than this engine's {self.max_batch}")
        with torch.inference_mode():
            if self.layers:
                parts = [self._run(windows[start:stop], continues) for start, stop, continues in self._runs(windows)]
            else:
                whole = torch.from_numpy(np.ascontiguousarray(windows))
                parts = [fd.forward(self.folded, whole[i : i + FULL_CHUNK]) for i in range(0, n, FULL_CHUNK)]
            return probabilities(torch.cat(parts), self.multi_label).numpy()

    def warm_up(self) -> None:
        """Two windows of silence, one hop apart, so the first real ones do not pay for lazy
        initialisation in their latency; the cache is rebuilt by the first real window."""
        silence = np.zeros((2, self.folded.input_samples), dtype=np.float32)
        self(silence[: min(2, self.max_batch)])
        self._tail = None

    def _runs(self, windows: np.ndarray) -> list[tuple[int, int, bool]]:
        """The batch cut into runs of consecutive windows: (start, stop, whether the run's first
        window follows the last window scored)."""
        overlap = self.folded.input_samples - self.hop
        follows = [self._tail is not None and np.array_equal(windows[0, :overlap], self._tail)]
        follows += [np.array_equal(windows[i, :overlap], windows[i - 1, self.hop :]) for i in range(1, len(windows))]
        starts = [i for i in range(len(windows)) if i == 0 or not follows[i]] + [len(windows)]
        self._tail = windows[-1, self.hop :].copy()
        return [(a, b, bool(follows[a])) for a, b in zip(starts, starts[1:])]

    def _run(self, windows: np.ndarray, continues: bool) -> torch.Tensor:
        """Logits of consecutive windows, the first following the cached stream when `continues`."""
        hop, length = self.hop, self.folded.input_samples
        if continues:
            new = windows[:, length - hop :].reshape(-1)
        else:  # a new stream starts with this window, at stream position 0
            self._next = 0
            self._samples = np.zeros(0, dtype=np.float32)
            self._streams = [_Stream(0)]
            for _ in self.layers[1:]:
                self._streams.append(_Stream(-(-(self._streams[-1].lo + 1) // TAPS)))
            self._conv = _Stream(self._streams[-1].lo + 1) if self._conv_block is not None else None
            new = np.concatenate([windows[0], windows[1:, length - hop :].reshape(-1)])
        self._extend(np.concatenate([self._samples, new]))
        first, count = self._next, len(windows)
        rows = self._window_rows(first, count)
        done = len(self.layers) - 1 + (self._conv is not None)  # blocks computed so far
        for layer in self.folded.blocks[done:]:
            rows = fd.block(layer, fd.pad_rows(rows))
        self._next = first + count * hop
        for k, (stream, grid) in enumerate(zip(self._streams, self.layers)):
            keep = self._next // grid.stride  # the next window's row 0
            if k + 1 < len(self._streams):  # and the rows the next layer's new rows are made from
                keep = min(keep, TAPS * self._streams[k + 1].hi - 1)
            elif self._conv is not None:
                keep = min(keep, self._conv.hi - 1)
            stream.trim(keep)
        if self._conv is not None:
            self._conv.trim(self._next // self.layers[-1].stride)
        return fd.head(self.folded, rows)

    def _extend(self, samples: np.ndarray) -> None:
        """Compute the stream rows that the samples up to now make whole, layer by layer;
        `samples` are those from the stem's next row on."""
        stem = self._streams[0]
        count = len(samples) // TAPS
        stem.append(fd.stem(self.folded, torch.from_numpy(samples[: count * TAPS])[None])[0])
        self._samples = samples[count * TAPS :].copy()
        for below, stream, layer in zip(self._streams, self._streams[1:], self.folded.blocks):
            hi = (below.hi - 1) // TAPS  # row j needs the rows below up to 3j + 3
            if hi > stream.hi:
                source = below.rows(TAPS * stream.hi - 1, TAPS * hi + 1)[None]
                stream.append(fd.block(layer, source)[0])
        if self._conv is not None:
            last, hi = self._streams[-1], self._streams[-1].hi - 1  # conv output j needs rows j - 1 .. j + 1
            if hi > self._conv.hi:
                source = last.rows(self._conv.hi - 1, hi + 1)[None]
                self._conv.append(fd.conv(self.folded.blocks[self._conv_block], source)[0])

    def _window_rows(self, first: int, count: int) -> torch.Tensor:
        """The rows of the last cached layer for `count` windows from stream position `first`,
        one hop apart: (count, rows, channels), the stream's rows with each window's edges
        recomputed from the layer below's (themselves patched the same way); then, when the
        next block's conv outputs are cached too, that block's output rows."""
        left = right = None  # the edge rows of the layer below, per window (none for the stem)
        for k in range(1, len(self.layers)):
            below, grid, layer = self.layers[k - 1], self.layers[k], self.folded.blocks[k - 1]
            rows = partial(self._streams[k - 1].windows, first // below.stride, self.hop // below.stride, count)
            # each edge's outputs from the window's rows below: its clean ones from the stream,
            # its edge rows as patched for the layer below, and the window's zero padding
            left_in, right_in = rows(below.clean_from, TAPS * grid.clean_from + 1), rows(TAPS * grid.clean_to - 1, below.clean_to)
            zero = left_in.new_zeros((count, 1, left_in.shape[2]))
            left = fd.block(layer, torch.cat([zero, *([] if left is None else [left]), left_in], dim=1))
            right = fd.block(layer, torch.cat([right_in, *([] if right is None else [right]), zero], dim=1))
        last = self.layers[-1]
        origin, step = first // last.stride, self.hop // last.stride
        rows = partial(self._streams[-1].windows, origin, step, count)
        a, b = last.clean_from, last.clean_to
        if self._conv is None:
            middle = rows(a, b)
            return middle.contiguous() if left is None else torch.cat([left, middle, right], dim=1)
        # the next block: conv output c is the stream's when rows c - 1 .. c + 1 are clean, so
        # outputs [a + 1, b - 1) come from the cache and the edges from the window's rows
        layer = self.folded.blocks[self._conv_block]
        edge_left, edge_right = rows(a, a + 2), rows(b - 2, b)
        zero = edge_left.new_zeros((count, 1, edge_left.shape[2]))
        left_conv = fd.conv(layer, torch.cat([zero, *([] if left is None else [left]), edge_left], dim=1))
        right_conv = fd.conv(layer, torch.cat([edge_right, *([] if right is None else [right]), zero], dim=1))
        middle = self._conv.windows(origin, step, count, a + 1, b - 1)
        return fd.pool(layer, torch.cat([left_conv, middle, right_conv], dim=1))
