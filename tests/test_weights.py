"""Weights files: safetensors with metadata, round trips, and refusal of anything else."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from livecmd import weights
from livecmd.domains import DOMAINS
from livecmd.errors import LivecmdError
from livecmd.models import build_model


def _meta(domain: str = "speech", arch: str = "samplecnn", n: int | None = None) -> weights.WeightsMeta:
    d = DOMAINS[domain]
    labels = d.labels if n is None else tuple(f"label{i}" for i in range(n))
    return weights.WeightsMeta(arch, domain, labels, d.sample_rate, d.input_samples, "test", {"accuracy": 0.5})


@pytest.mark.parametrize("domain,arch", [("speech", "samplecnn"), ("dcase", "rese2multi")])
def test_save_then_load_gives_equal_outputs_and_metadata(tmp_path: Path, domain: str, arch: str) -> None:
    model = build_model(domain, arch)
    model.train()
    model(torch.randn(4, DOMAINS[domain].input_samples))  # move the BN running statistics
    model.eval()
    path = weights.save(tmp_path / "w.safetensors", model, _meta(domain, arch))
    loaded = weights.load(path)
    x = torch.randn(2, DOMAINS[domain].input_samples)
    with torch.inference_mode():
        assert torch.equal(model(x), loaded.model(x))
    assert loaded.meta == _meta(domain, arch)
    assert not loaded.model.training
    assert weights.read_meta(path).labels == DOMAINS[domain].labels


def test_label_count_comes_from_metadata(tmp_path: Path) -> None:
    path = weights.save(tmp_path / "w.safetensors", build_model("speech", "samplecnn", n_labels=12), _meta(n=12))
    assert weights.load(path).model(torch.randn(1, 16_000)).shape == (1, 12)


def test_save_leaves_no_temporary_file(tmp_path: Path) -> None:
    weights.save(tmp_path / "w.safetensors", build_model("speech", "samplecnn"), _meta())
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


def _saved(tmp_path: Path) -> Path:
    return weights.save(tmp_path / "good.safetensors", build_model("speech", "samplecnn"), _meta())


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda good, bad: bad.write_bytes(bytes(range(256)) * 40), id="random-bytes"),
        pytest.param(lambda good, bad: bad.write_bytes(good.read_bytes()[:-1000]), id="truncated-data"),
        pytest.param(lambda good, bad: bad.write_bytes(good.read_bytes()[:100]), id="truncated-header"),
        pytest.param(lambda good, bad: bad.write_bytes(b""), id="empty"),
        pytest.param(
            lambda good, bad: bad.write_bytes(pickle.dumps({"conv.weight": [1.0, 2.0]})), id="pickle"
        ),
        pytest.param(lambda good, bad: torch.save({"w": torch.zeros(3)}, bad), id="torch-save-zip"),
    ],
)
def test_not_safetensors_is_refused_with_the_user_error(tmp_path: Path, corrupt) -> None:
    bad = tmp_path / "bad.safetensors"
    corrupt(_saved(tmp_path), bad)
    with pytest.raises(LivecmdError, match="bad.safetensors"):
        weights.load(bad)


def test_safetensors_without_our_metadata_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in build_model("speech", "samplecnn").state_dict().items()}, str(path))
    with pytest.raises(LivecmdError, match="no livecmd metadata"):
        weights.load(path)


def test_tensors_that_do_not_fit_the_named_model_are_refused(tmp_path: Path) -> None:
    path = weights.save(tmp_path / "w.safetensors", build_model("speech", "samplecnn"), _meta(arch="rese2multi"))
    with pytest.raises(LivecmdError, match="does not fit a speech rese2multi model"):
        weights.load(path)
    path = weights.save(tmp_path / "n.safetensors", build_model("speech", "samplecnn"), _meta(n=12))
    with pytest.raises(LivecmdError, match="does not fit"):
        weights.load(path)


def test_unknown_arch_or_domain_in_metadata_is_refused(tmp_path: Path) -> None:
    model = build_model("speech", "samplecnn")
    for meta, message in (
        (weights.WeightsMeta("vgg", "speech", ("a",), 16_000, 16_000), "architecture 'vgg'"),
        (weights.WeightsMeta("samplecnn", "birds", ("a",), 16_000, 16_000), "unknown domain 'birds'"),
    ):
        path = weights.save(tmp_path / "w.safetensors", model, meta)
        with pytest.raises(LivecmdError, match=message):
            weights.load(path)


def test_missing_file_and_missing_shipped_weights_say_what_to_do(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(LivecmdError, match="does not exist"):
        weights.load(tmp_path / "nope.safetensors")
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(LivecmdError, match="--weights"):
        weights.shipped("speech")
    weights.save(tmp_path / "speech-rese2multi.safetensors", build_model("speech", "rese2multi"), _meta(arch="rese2multi"))
    assert weights.shipped("speech").name == "speech-rese2multi.safetensors"
