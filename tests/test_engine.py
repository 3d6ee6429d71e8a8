"""The engine alone: the same scores whatever the batching, on the CPU and (when lent) a GPU;
which engine `--engine` picks where, and the hop it scores at."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from livecmd.compute import exact_fp32
from livecmd.errors import LivecmdError
from livecmd.models import build_model, probabilities
from livecmd.stream.engine import TorchEngine, choose_engine, engine_hop, make_engine
from livecmd.stream.overlap import FoldedEngine
from tests.tones import HIGH_HZ, LOW_HZ, TONE_LABELS, stream, tone, tone_model

SAMPLES = 16_000


def _trained_looking_model(domain: str = "speech", n_labels: int = 5) -> torch.nn.Module:
    """A random SampleCNN whose BN statistics were moved off their defaults, so every layer
    matters to the output."""
    torch.manual_seed(0)
    model = build_model(domain, "samplecnn", n_labels=n_labels)
    model.train()
    with torch.no_grad():
        model(torch.randn(8, SAMPLES) * 0.1)
    return model.eval()


def _windows(n: int) -> np.ndarray:
    wave = stream([(0.3, "low"), (1.4, "high")], seconds=3.0)
    return np.stack([wave[i * 1_600 : i * 1_600 + SAMPLES] for i in range(n)])


def _one_at_a_time(model: torch.nn.Module, windows: np.ndarray, multi_label: bool) -> np.ndarray:
    with torch.inference_mode():
        return np.concatenate([probabilities(model(torch.from_numpy(w[None])), multi_label).numpy() for w in windows])


@pytest.mark.parametrize("slots,chunk", [(1, None), (1, 8), (3, 2)], ids=["cpu-chunks", "whole-batch", "chunks-reusing-3-slots"])
def test_batched_scores_equal_one_window_at_a_time(slots: int, chunk: int | None) -> None:
    model = _trained_looking_model()
    engine = TorchEngine(model, torch.device("cpu"), False, SAMPLES, 5, max_batch=8, slots=slots, chunk=chunk)
    windows = _windows(7)
    expected = _one_at_a_time(model, windows, False)
    for batch in (windows, windows[:1], windows[:4]):  # whatever is waiting, buffers reused
        np.testing.assert_allclose(engine(batch), expected[: len(batch)], rtol=1e-4, atol=1e-6)


def test_scores_are_a_softmax_for_speech_and_sigmoids_for_tags() -> None:
    windows = _windows(3)
    single = TorchEngine(_trained_looking_model(), torch.device("cpu"), False, SAMPLES, 5)(windows)
    np.testing.assert_allclose(single.sum(axis=1), 1.0, rtol=1e-5)
    multi = TorchEngine(_trained_looking_model("dcase", 17), torch.device("cpu"), True, SAMPLES, 17)(windows)
    assert multi.shape == (3, 17) and ((multi > 0) & (multi < 1)).all()
    assert not np.allclose(multi.sum(axis=1), 1.0)


def test_tone_model_names_the_tone_in_the_window() -> None:
    engine = TorchEngine(tone_model(), torch.device("cpu"), False, SAMPLES, 3)
    quiet = stream([], seconds=1.0)
    windows = np.stack([quiet, quiet + np.pad(tone(LOW_HZ, 0.4), (8_000, 1_600)), quiet + np.pad(tone(HIGH_HZ, 0.4), (0, 9_600))])
    assert [TONE_LABELS[i] for i in engine(windows).argmax(axis=1)] == ["_silence_", "low", "high"]


def test_a_batch_larger_than_the_engine_takes_is_refused() -> None:
    engine = TorchEngine(_trained_looking_model(), torch.device("cpu"), False, SAMPLES, 5, max_batch=2)
    with pytest.raises(ValueError, match="more than"):
        engine(_windows(3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here: the CUDA path runs on CPU as slots without streams")
def test_cuda_streams_give_the_cpu_numbers() -> None:
    model = _trained_looking_model()
    windows = _windows(7)
    expected = TorchEngine(model, torch.device("cpu"), False, SAMPLES, 5, max_batch=8)(windows)
    cuda = TorchEngine(_trained_looking_model(), torch.device("cuda"), False, SAMPLES, 5, max_batch=8)
    with exact_fp32():  # cuDNN's default TF32 on Ampere/Hopper would move scores past the tolerance
        for _ in range(3):  # pinned buffers and streams reused
            np.testing.assert_allclose(cuda(windows), expected, rtol=1e-3, atol=1e-4)


def test_exact_fp32_turns_tf32_off_inside_and_restores_it() -> None:
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True  # cuDNN's own default
    try:
        with exact_fp32():
            assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


_FAULTS = """
import resource, statistics, torch
from livecmd.models import build_model
from livecmd.stream.engine import keep_heap
keep_heap()
model = build_model("speech", "samplecnn").eval()
x = torch.randn(4, 16_000)
faults = []
with torch.inference_mode():
    for _ in range(10):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        model(x)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(statistics.median(faults[2:]))  # per pass of 4 windows, once warm
"""


@pytest.mark.skipif(sys.platform != "linux", reason="keep_heap tunes glibc's malloc")
def test_keeping_the_heap_stops_page_faults_between_forward_passes() -> None:
    # without it, glibc gives each pass's activations back and faults them in again:
    # about 16,000 page faults per pass of 4 windows on the dev box
    result = subprocess.run([sys.executable, "-c", _FAULTS], capture_output=True, text=True, check=True)
    assert float(result.stdout) < 50


CPU, CUDA = torch.device("cpu"), torch.device("cuda")  # a device object needs no GPU: the choice is checked on any machine


@pytest.mark.parametrize(
    "kind,foldable,device,expected",
    [("auto", True, CPU, "cached"), ("auto", False, CPU, "torch"), ("auto", True, CUDA, "torch"),
     ("folded", True, CPU, "folded"), ("torch", True, CUDA, "torch")],
    ids=["samplecnn-cpu", "rese2multi-cpu", "samplecnn-cuda", "folded-cpu", "torch-cuda"],
)
def test_auto_picks_the_cached_engine_on_a_cpu_for_sample_cnn_and_torch_elsewhere(kind, foldable, device, expected) -> None:
    assert choose_engine(kind, "auto", foldable, device) == expected


@pytest.mark.parametrize(
    "kind,precision,foldable,device,message",
    [("cached", "auto", True, CUDA, "runs on the CPU"), ("folded", "auto", False, CPU, "SampleCNN weights only"),
     ("torch", "bf16", True, CPU, "computes in fp32"), ("auto", "bf16", True, CUDA, "computes in fp32"),
     ("onnx", "auto", True, CPU, "unknown --engine"), ("cached", "int8", True, CPU, "unknown --precision")],
)
def test_an_engine_that_cannot_run_there_is_a_user_error(kind, precision, foldable, device, message) -> None:
    with pytest.raises(LivecmdError, match=message):
        choose_engine(kind, precision, foldable, device)


def test_the_cached_engine_scores_at_the_nearest_hop_on_its_grid() -> None:
    strides = build_model("speech", "samplecnn").strides()  # the model's own: 3, 9, 27, 81, ...
    assert strides[:4] == (3, 9, 27, 81) and len(strides) == 9
    hops = {1_600: 1_620, 160: 162, 800: 810, 1: 81, 16_000: 15_957}  # 100, 10, 50 ms; the extremes
    assert {hop: engine_hop("cached", hop, SAMPLES, strides) for hop in hops} == hops
    assert engine_hop("folded", 1_600, SAMPLES, strides) == engine_hop("torch", 1_600, SAMPLES) == 1_600


def test_make_engine_builds_each_engine_with_its_precision() -> None:
    model = _trained_looking_model()
    windows = _windows(3)
    expected = _one_at_a_time(model, windows, False)
    for kind, precision, name in [("cached", "fp32", "cached fp32"), ("folded", "bf16", "folded bf16"), ("torch", "auto", "torch fp32")]:
        engine = make_engine(kind, model, CPU, False, SAMPLES, 5, 8, 1_620, precision)
        assert engine.name == name and isinstance(engine, TorchEngine if kind == "torch" else FoldedEngine)
        engine.warm_up()
        np.testing.assert_allclose(engine(windows), expected, atol=1e-5 if precision != "bf16" else 0.02)
