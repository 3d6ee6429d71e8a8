"""The building blocks of the paper's two models (Lee et al. 2017, Figure 1).

Every block keeps the paper's sample-level granularity: 3-sample filters and 3-sample pooling.
Pooling is ceil-mode so that input lengths that are not a power of 3 (16,000 for speech) still
reach a short sequence instead of zero length; the models end in a global pool anyway.
"""

from __future__ import annotations

import torch
from torch import nn

SAMPLE_LEVEL = 3
"""Taps of every conv and rows of every max-pool (and the stem's stride): the paper's sample level."""


def stem(filters: int) -> nn.Sequential:
    """Strided conv (size 3, stride 3) → BN → ReLU: the first layer of both models.

    (batch, 1, samples) → (batch, filters, samples // 3).
    """
    return nn.Sequential(
        nn.Conv1d(1, filters, kernel_size=SAMPLE_LEVEL, stride=SAMPLE_LEVEL),
        nn.BatchNorm1d(filters),
        nn.ReLU(),
    )


class BasicBlock(nn.Sequential):
    """SampleCNN block: conv3 ("same") → BN → ReLU → max-pool 3."""

    def __init__(self, in_filters: int, out_filters: int):
        super().__init__(
            nn.Conv1d(in_filters, out_filters, kernel_size=SAMPLE_LEVEL, padding=SAMPLE_LEVEL // 2),
            nn.BatchNorm1d(out_filters),
            nn.ReLU(),
            nn.MaxPool1d(SAMPLE_LEVEL, ceil_mode=True),
        )


class SqueezeExcitation(nn.Module):
    """Squeeze (mean over time) and excitation (two dense layers) → a gate per filter.

    The paper's ReSE blocks *amplify* in the first dense layer (filters × 16 units), unlike the
    image SE networks that reduce; we follow the paper.
    """

    def __init__(self, filters: int, amplifying_ratio: int = 16):
        super().__init__()
        self.excite = nn.Sequential(
            nn.Linear(filters, filters * amplifying_ratio),
            nn.ReLU(),
            nn.Linear(filters * amplifying_ratio, filters),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.excite(x.mean(dim=2))  # (batch, filters)
        return x * gate.unsqueeze(2)


class ReSEBlock(nn.Module):
    """ReSE-2 block: two convs, SE, a residual path, then ReLU and max-pool 3.

    conv3 → BN → ReLU → dropout 0.2 → conv3 → BN → SE → + shortcut → ReLU → max-pool 3.
    The shortcut is a 1×1 conv + BN only when the filter count changes.
    """

    def __init__(self, in_filters: int, out_filters: int):
        super().__init__()
        self.residual = nn.Sequential(
            nn.Conv1d(in_filters, out_filters, kernel_size=SAMPLE_LEVEL, padding=SAMPLE_LEVEL // 2),
            nn.BatchNorm1d(out_filters),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Conv1d(out_filters, out_filters, kernel_size=SAMPLE_LEVEL, padding=SAMPLE_LEVEL // 2),
            nn.BatchNorm1d(out_filters),
            SqueezeExcitation(out_filters),
        )
        self.shortcut: nn.Module = (
            nn.Identity()
            if in_filters == out_filters
            else nn.Sequential(nn.Conv1d(in_filters, out_filters, kernel_size=1), nn.BatchNorm1d(out_filters))
        )
        self.pool = nn.Sequential(nn.ReLU(), nn.MaxPool1d(SAMPLE_LEVEL, ceil_mode=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.residual(x) + self.shortcut(x))
