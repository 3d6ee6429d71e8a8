"""`livecmd export`: ONNX files that compute what torch computes, carry their metadata, and fail
clearly without the optional extra."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from livecmd.domains import DOMAINS, get_domain
from livecmd.export import export
from livecmd.models import ARCHS
from livecmd.weights import load
from tests.conftest import random_weights, run_cli


def _weights_with_metrics(path: Path, domain: str, arch: str) -> Path:
    return random_weights(path, domain, arch, training_data="random init", metrics={"accuracy": 0.5})


@pytest.mark.slow
@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("domain", list(DOMAINS))
def test_onnx_logits_equal_torch_for_batch_1_and_4(tmp_path, domain, arch):
    weights = _weights_with_metrics(tmp_path / "w.safetensors", domain, arch)
    check = export(weights, tmp_path / "model.onnx")  # one dynamic-batch export serves both sizes
    assert check.batch is None and set(check.max_abs_diff) == {1, 4}
    assert max(check.max_abs_diff.values()) < 1e-4

    samples = get_domain(domain).input_samples
    model = load(weights).model
    session = ort.InferenceSession(str(check.path), providers=["CPUExecutionProvider"])
    (inp,), (outp,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.type, outp.name) == ("waveform", "tensor(float)", "logits")
    assert inp.shape[1] == samples and not isinstance(inp.shape[0], int)
    generator = torch.Generator().manual_seed(123)
    for batch in (1, 4):
        x = 0.1 * torch.randn(batch, samples, generator=generator)
        (logits,) = session.run(["logits"], {"waveform": x.numpy()})
        with torch.no_grad():
            expected = model(x).numpy()
        assert logits.shape == (batch, len(get_domain(domain).labels))
        np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-4)

    props = session.get_modelmeta().custom_metadata_map
    assert json.loads(props["labels"]) == list(get_domain(domain).labels)
    assert json.loads(props["sample_rate"]) == 16_000 and json.loads(props["input_samples"]) == samples
    assert (json.loads(props["domain"]), json.loads(props["arch"])) == (domain, arch)
    assert json.loads(props["metrics"]) == {"accuracy": 0.5}
    assert json.loads(props["scores"]) == ("sigmoid" if get_domain(domain).multi_label else "softmax")


def test_export_command_with_a_fixed_batch_writes_that_input_shape(tmp_path, monkeypatch, capsys):
    weights = _weights_with_metrics(tmp_path / "speech.safetensors", "speech", "samplecnn")
    out = tmp_path / "sub" / "speech.onnx"
    code, stdout, err = run_cli(["export", "--weights", str(weights), "--format", "onnx", "--out", str(out), "--batch", "2"], monkeypatch, capsys)
    assert code == 0, err
    assert ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).get_inputs()[0].shape == [2, 16_000]
    assert "batch 2: max |difference| =" in stdout
    assert [p.name for p in out.parent.iterdir()] == ["speech.onnx"]  # one file, no temp left


def test_export_without_onnxruntime_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    weights = _weights_with_metrics(tmp_path / "speech.safetensors", "speech", "samplecnn")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import onnxruntime` sees when it is not installed
    code, _, err = run_cli(["export", "--weights", str(weights), "--out", str(tmp_path / "m.onnx")], monkeypatch, capsys)
    assert code == 2
    assert "pip install 'livecmd[export]'" in err and "Traceback" not in err
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--batch", "many", "--batch 'many'"), ("--batch", "0", "--batch '0'"), ("--format", "tflite", "--format 'tflite'")],
)
def test_export_rejects_an_unknown_batch_or_format(tmp_path, monkeypatch, capsys, option, value, message):
    weights = _weights_with_metrics(tmp_path / "speech.safetensors", "speech", "samplecnn")
    code, _, err = run_cli(["export", "--weights", str(weights), "--out", str(tmp_path / "m.onnx"), option, value], monkeypatch, capsys)
    assert code == 2 and message in err
    assert not (tmp_path / "m.onnx").exists()
