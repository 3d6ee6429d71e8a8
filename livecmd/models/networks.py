"""SampleCNN and ReSE-2-Multi: raw waveform in, one logit per label out.

Both hold their stem and blocks in `layers` (an `nn.ModuleList`), so callers that need the
hidden activations (filter visualization, streaming) can run the first k layers themselves.
"""

from __future__ import annotations

import torch
from torch import nn

from livecmd.models.blocks import SAMPLE_LEVEL, BasicBlock, ReSEBlock, stem


def _stack(block: type[nn.Module], stem_filters: int, filters: tuple[int, ...]) -> nn.ModuleList:
    ins = (stem_filters,) + filters[:-1]
    return nn.ModuleList([stem(stem_filters)] + [block(i, o) for i, o in zip(ins, filters)])


class SampleCNN(nn.Module):
    """Stem, N basic blocks, global max over time → dropout 0.5 → dense.

    forward: (batch, samples) float32 → (batch, n_labels) logits.
    """

    def __init__(self, stem_filters: int, filters: tuple[int, ...], n_labels: int):
        super().__init__()
        self.layers = _stack(BasicBlock, stem_filters, filters)
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(filters[-1], n_labels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(1)
        for layer in self.layers:
            x = layer(x)
        return self.head(x.amax(dim=2))

    def folding(self) -> tuple[list[tuple[nn.Conv1d, nn.BatchNorm1d]], nn.Linear]:
        """What the fast CPU engines (`livecmd.stream.folded`) compute this model from: each
        layer's conv and batch norm, stem first (the stem: a `SAMPLE_LEVEL`-sample filter at
        stride `SAMPLE_LEVEL`, then ReLU; each block: a "same" conv of `SAMPLE_LEVEL` taps,
        ReLU, a ceil-mode max-pool of `SAMPLE_LEVEL` rows), and the classifier after the
        global max (dropout is off in eval mode)."""
        return [(layer[0], layer[1]) for layer in self.layers], self.head[-1]

    def strides(self) -> tuple[int, ...]:
        """Input samples per output row of each layer, stem first: 3, 9, 27, ... Windows whose
        ends are a multiple of layer k's stride apart share that layer's row grid."""
        return tuple(SAMPLE_LEVEL ** (k + 1) for k in range(len(self.layers)))


class ReSE2Multi(nn.Module):
    """Stem, N ReSE-2 blocks; the global max of each of the last three blocks, concatenated
    (multi-level features), → dense (same width) → BN → ReLU → dropout 0.5 → dense.

    forward: (batch, samples) float32 → (batch, n_labels) logits.
    """

    def __init__(self, stem_filters: int, filters: tuple[int, ...], n_labels: int):
        super().__init__()
        self.layers = _stack(ReSEBlock, stem_filters, filters)
        width = sum(filters[-3:])
        self.head = nn.Sequential(
            nn.Linear(width, width),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(width, n_labels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(1)
        levels = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i >= len(self.layers) - 3:
                levels.append(x.amax(dim=2))
        return self.head(torch.cat(levels, dim=1))
