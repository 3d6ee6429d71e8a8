"""The paper's two models, built by one function from a domain and an architecture name."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from livecmd.domains import Domain, get_domain
from livecmd.errors import LivecmdError
from livecmd.models.blocks import SAMPLE_LEVEL
from livecmd.models.networks import ReSE2Multi, SampleCNN

ARCHS: dict[str, type[nn.Module]] = {"samplecnn": SampleCNN, "rese2multi": ReSE2Multi}
"""Architecture name (as on the command line and in weights metadata) → model class."""

STEM_FILTERS = 128

__all__ = ["ARCHS", "SAMPLE_LEVEL", "STEM_FILTERS", "build_model", "config_for", "count_parameters", "foldable", "probabilities"]


def foldable(arch: str) -> bool:
    """Whether the fast CPU engines run architecture `arch` (a weights file's `arch`): those
    whose model offers `folding()`, SampleCNN. ReSE-2-Multi's squeeze-excitation gates depend
    on the whole window, so its rows could not come from a cache shared by overlapping windows."""
    return hasattr(ARCHS.get(arch), "folding")


def block_filters(blocks: int) -> tuple[int, ...]:
    """Filters of each block after the stem.

    The paper's 9-block model has 128, 128, 256 × 6, 512; shallower models drop 256-filter
    blocks from the middle and keep the 512-filter block last.
    """
    if blocks < 3:
        raise ValueError(f"a sample-level model needs at least 3 blocks, not {blocks}")
    return (128, 128) + (256,) * (blocks - 3) + (512,)


@dataclass(frozen=True)
class ModelConfig:
    arch: str
    blocks: int
    n_labels: int

    @property
    def filters(self) -> tuple[int, ...]:
        return block_filters(self.blocks)


def config_for(domain: Domain | str, arch: str, n_labels: int | None = None) -> ModelConfig:
    """The paper's model for `domain`; `n_labels` overrides the domain's label count (a model
    trained on a dataset's own label set, e.g. 12 speech classes)."""
    domain = get_domain(domain) if isinstance(domain, str) else domain
    if arch not in ARCHS:
        raise LivecmdError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHS)}")
    return ModelConfig(arch, domain.blocks, n_labels if n_labels is not None else len(domain.labels))


def build_model(domain: Domain | str, arch: str, n_labels: int | None = None) -> nn.Module:
    """A freshly initialised model for `domain` with architecture `arch`."""
    config = config_for(domain, arch, n_labels)
    return ARCHS[arch](STEM_FILTERS, config.filters, config.n_labels)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (BN running statistics are buffers and not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def probabilities(logits: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """Scores in [0, 1]: a sigmoid per label for multi-label domains, a softmax otherwise."""
    return torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)
