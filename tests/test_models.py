"""The paper's two models: shapes for every domain, and parameter counts from the paper's layers."""

from __future__ import annotations

import pytest
import torch

from livecmd.domains import DOMAINS
from livecmd.models import ARCHS, build_model, count_parameters, probabilities

PAIRS = [(d, a) for d in DOMAINS for a in ARCHS]


def _conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k + cout


def _bn(c: int) -> int:
    return 2 * c


def _dense(i: int, o: int) -> int:
    return i * o + o


def _paper_filters(blocks: int) -> list[int]:
    # paper-settings.md: the 9-block model has 128, 128, 256 x 6, 512; shorter ones drop a
    # 256-filter block from the middle and keep 512 last.
    nine = [128, 128, 256, 256, 256, 256, 256, 256, 512]
    return nine[:2] + [256] * (blocks - 3) + [512] if blocks < 9 else nine


def _paper_parameters(arch: str, blocks: int, n_labels: int) -> int:
    """Parameters counted by hand from the paper's layer list (conv and dense with biases,
    BN with scale and shift; SE amplifies by 16)."""
    filters = _paper_filters(blocks)
    total = _conv(1, 128, 3) + _bn(128)  # the strided stem
    cin = 128
    for c in filters:
        if arch == "samplecnn":
            total += _conv(cin, c, 3) + _bn(c)
        else:
            total += _conv(cin, c, 3) + _bn(c) + _conv(c, c, 3) + _bn(c)
            total += _dense(c, 16 * c) + _dense(16 * c, c)
            if cin != c:
                total += _conv(cin, c, 1) + _bn(c)
        cin = c
    if arch == "samplecnn":
        return total + _dense(filters[-1], n_labels)
    width = sum(filters[-3:])
    return total + _dense(width, width) + _bn(width) + _dense(width, n_labels)


@pytest.mark.parametrize("domain,arch", PAIRS)
def test_parameter_count_equals_paper_layer_list(domain: str, arch: str) -> None:
    d = DOMAINS[domain]
    model = build_model(d, arch)
    assert count_parameters(model) == _paper_parameters(arch, d.blocks, len(d.labels))


def test_parameter_counts_are_the_published_figures() -> None:
    # What `livecmd info` prints; pinned so an accidental layer change cannot go unnoticed.
    counts = {(d, a): count_parameters(build_model(d, a)) for d, a in PAIRS}
    assert counts == {
        ("speech", "samplecnn"): 1_399_071,
        ("speech", "rese2multi"): 24_464_415,
        ("mtat", "samplecnn"): 1_606_194,
        ("mtat", "rese2multi"): 26_980_146,
        ("dcase", "samplecnn"): 1_391_889,
        ("dcase", "rese2multi"): 24_450_065,
    }


@pytest.mark.parametrize("domain,arch", PAIRS)
@pytest.mark.parametrize("batch", [1, 8])
def test_output_is_one_logit_per_label(domain: str, arch: str, batch: int) -> None:
    d = DOMAINS[domain]
    model = build_model(d, arch).eval()
    with torch.inference_mode():
        logits = model(torch.randn(batch, d.input_samples))
    assert logits.shape == (batch, len(d.labels))
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_last_block_reaches_a_single_step(domain: str) -> None:
    # The paper sizes the depth so the input shrinks to ~1 step: 16,000 -> 1 with ceil pooling.
    d = DOMAINS[domain]
    model = build_model(d, "samplecnn").eval()
    x = torch.randn(1, 1, d.input_samples)
    with torch.inference_mode():
        for layer in model.layers:
            x = layer(x)
    assert x.shape == (1, 512, 1)


def test_training_mode_batch_of_one_fails_only_for_rese_head_batchnorm() -> None:
    # Documented limit: ReSE-2-Multi's dense BN needs batch > 1 in training mode.
    model = build_model("speech", "rese2multi").train()
    with pytest.raises(ValueError):
        model(torch.randn(1, 16_000))
    model(torch.randn(2, 16_000)).sum().backward()


def test_probabilities_softmax_for_multiclass_and_sigmoid_for_multilabel() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    assert torch.allclose(probabilities(logits, multi_label=False).sum(), torch.tensor(1.0))
    assert torch.allclose(probabilities(logits, multi_label=True), torch.sigmoid(logits))
