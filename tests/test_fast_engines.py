"""The fast CPU engines (folded, cached) against the naive path: the model's own forward, one
window at a time, in fp32. Same labels, scores within stated tolerances, on real speech and on
the tones model, through the Python API and the real CLI. Speed is measured in
benchmarks/listen_speed.py, not here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from livecmd import audio, weights
from livecmd.errors import LivecmdError
from livecmd.models import build_model, foldable, probabilities
from livecmd.stream.decide import DecideSettings, Decider
from livecmd.stream import folded as fd
from livecmd.stream.overlap import FoldedEngine, clean_rows
from tests.conftest import random_weights, run_cli, shared_data
from tests.tones import save_tone_model, stream, write_clip

SAMPLES = 16_000
FP32_TOLERANCE = 1e-5
"""Largest score difference from the naive path in fp32: rounding only (sums in another order)."""
BF16_TOLERANCE = 0.02
"""Largest score difference in bf16 (8-bit mantissas through 8 layers): measured ≈ 0.004 on a
trained speech model over 2 minutes of real speech, ≈ 0.001 on these random models."""


def _model(n_labels: int = 12, calibrate: np.ndarray | None = None) -> torch.nn.Module:
    """A random speech SampleCNN whose BN statistics are those of `calibrate` windows (or of
    noise), so that every layer shapes the output as in a trained model."""
    torch.manual_seed(0)
    model = build_model("speech", "samplecnn", n_labels=n_labels)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.momentum = None  # a plain average over the calibration batch
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(calibrate) if calibrate is not None else torch.randn(8, SAMPLES) * 0.1)
    return model.eval()


def _naive(model: torch.nn.Module, windows: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return np.concatenate([probabilities(model(torch.from_numpy(w[None])), False).numpy() for w in windows])


def _windows(wave: np.ndarray, hop: int, count: int | None = None) -> np.ndarray:
    """(count, SAMPLES): the windows of `wave` ending every `hop` samples (all that fit by default)."""
    ends = range(SAMPLES, len(wave) + 1, hop)[:count]
    return np.stack([wave[end - SAMPLES : end] for end in ends])


def _in_batches(engine: FoldedEngine, windows: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Scores of `windows` fed in batches of these sizes, round and round, as the listen loop
    feeds whatever is waiting."""
    out, i, k = [], 0, 0
    while i < len(windows):
        out.append(engine(windows[i : i + sizes[k % len(sizes)]]))
        i += sizes[k % len(sizes)]
        k += 1
    return np.concatenate(out)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One compute thread, as `livecmd listen` uses: two crawl when another process is busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """About 14 s of real speech, (samples,) float32: one Speech Commands v0.02 test clip of each
    of the 12 classes in turn, each followed by 0.2 s of real background noise."""
    root = shared_data("speech_commands_test_set_v0.02_part_a")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    noise = audio.load(sorted((root / "_silence_").glob("*.wav"))[0])
    parts = []
    for i, folder in enumerate(folders):
        parts += [audio.load(sorted(folder.glob("*.wav"))[i]), noise[i * 3_200 : (i + 1) * 3_200]]
    return np.concatenate(parts)


def test_folded_model_computes_the_module_function() -> None:
    model = _model()
    windows = _windows(stream([(0.3, "low"), (1.4, "high")], seconds=2.0), 4_000)
    expected = _naive(model, windows)
    with torch.inference_mode():
        for dtype, tolerance in ((torch.float32, FP32_TOLERANCE), (torch.bfloat16, BF16_TOLERANCE)):
            scores = torch.softmax(fd.forward(fd.fold(model, SAMPLES, dtype), torch.from_numpy(windows)), -1).numpy()
            np.testing.assert_allclose(scores, expected, atol=tolerance)


def test_only_sample_cnn_folds() -> None:
    assert foldable("samplecnn") and not foldable("rese2multi")
    with pytest.raises(ValueError, match="only SampleCNN"):
        fd.fold(build_model("speech", "rese2multi"), SAMPLES)


def test_rows_marked_clean_are_the_rows_consecutive_windows_share() -> None:
    # the claim the cache rests on, checked with the module's own layers: every row that
    # clean_rows calls clean in the later window equals the earlier window's row one hop on
    model, hop = _model(), 1_620
    wave = np.random.default_rng(1).normal(0.0, 0.1, SAMPLES + hop).astype(np.float32)
    grids = clean_rows(fd.fold(model, SAMPLES), hop)
    assert [(g.length, g.clean_from, g.clean_to, g.stride) for g in grids] == [
        (5_333, 0, 5_333, 3), (1_778, 1, 1_777, 9), (593, 1, 592, 27), (198, 1, 197, 81)]
    with torch.inference_mode():
        earlier, later = torch.from_numpy(wave[:SAMPLES])[None, None], torch.from_numpy(wave[hop:])[None, None]
        for layer, grid in zip(model.layers, grids):
            earlier, later = layer(earlier), layer(later)
            shift = hop // grid.stride
            assert later.shape[2] == grid.length
            np.testing.assert_allclose(later[0, :, grid.clean_from : grid.clean_to - shift],
                                       earlier[0, :, grid.clean_from + shift : grid.clean_to], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hop,cached", [(1_620, 4), (162, 4), (1_458, 6), (243, 5), (3, 1), (1_600, 0)])
def test_cached_engine_gives_the_full_scores_whatever_the_batches_and_gaps(hop: int, cached: int) -> None:
    model = _model()
    folded = fd.fold(model, SAMPLES, torch.float32)
    wave = stream([(0.5, "low"), (2.0, "high"), (3.1, "low")], seconds=4.5)
    windows = _windows(wave, hop, 40)
    # a gap, as when the reader fell behind and the ring dropped audio: the cache is rebuilt
    windows = np.concatenate([windows[:17], windows[21:]])
    engine = FoldedEngine(folded, multi_label=False, max_batch=16, hop=hop)
    engine.warm_up()
    assert engine.cached_layers == cached
    full = _in_batches(FoldedEngine(folded, multi_label=False, max_batch=16), windows, [16])
    np.testing.assert_allclose(_in_batches(engine, windows, [1, 3, 16, 2, 7]), full, atol=FP32_TOLERANCE)
    np.testing.assert_allclose(full, _naive(model, windows), atol=FP32_TOLERANCE)


def test_cached_engine_takes_windows_of_other_domains() -> None:
    # dcase windows are 19,683 samples (3^9), tags are sigmoids
    torch.manual_seed(0)
    model = build_model("dcase", "samplecnn").eval()
    wave = stream([(0.4, "high")], seconds=2.0)
    windows = np.stack([wave[e - 19_683 : e] for e in range(19_683, len(wave) + 1, 810)])
    engine = FoldedEngine(fd.fold(model, 19_683), multi_label=True, max_batch=16, hop=810)
    with torch.inference_mode():
        expected = torch.sigmoid(model(torch.from_numpy(windows))).numpy()
    assert engine.cached_layers == 4
    np.testing.assert_allclose(_in_batches(engine, windows, [2, 5]), expected, atol=FP32_TOLERANCE)


@pytest.fixture(scope="module")
def speech_scores(speech: np.ndarray) -> tuple[torch.nn.Module, np.ndarray, np.ndarray]:
    """A random SampleCNN with BN statistics of real speech, the windows of `speech` every
    1,620 samples, and their naive scores."""
    windows = _windows(speech, 1_620)
    model = _model(calibrate=windows[::4])
    return model, windows, _naive(model, windows)


@pytest.mark.parametrize("dtype,tolerance", [(torch.float32, FP32_TOLERANCE), (torch.bfloat16, BF16_TOLERANCE)], ids=["fp32", "bf16"])
def test_fast_engines_on_real_speech_give_the_naive_scores(speech_scores, dtype: torch.dtype, tolerance: float) -> None:
    model, windows, expected = speech_scores
    folded = fd.fold(model, SAMPLES, dtype)
    cached = _in_batches(FoldedEngine(folded, False, 16, 1_620), windows, [16, 1, 2])
    # every window's rows computed afresh, for a third of them (bf16 crawls on CPUs without bf16 units)
    full = _in_batches(FoldedEngine(folded, False, 16), windows[::3], [16])
    # the cache changes nothing but rounding (in bf16 a stream row computed in another batch
    # may round to the neighbouring bf16 value)
    assert np.abs(cached[::3] - full).max() <= tolerance
    assert np.abs(cached - expected).max() <= tolerance
    if dtype == torch.float32:
        assert (cached.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_shipped_speech_model_hears_the_naive_words_in_real_speech(speech: np.ndarray) -> None:
    try:
        path = weights.shipped("speech")
    except LivecmdError:
        pytest.skip("no shipped speech weights in weights/: a random model's labels are near-ties, so this needs trained ones")
    loaded = weights.load(path, torch.device("cpu"))
    hop, labels = 1_620, loaded.meta.labels
    windows = _windows(speech, hop)
    expected = _naive(loaded.model, windows)
    settings = DecideSettings(labels, (0.5,) * len(labels), 3, 16_000, False, 16_000)
    ends = SAMPLES + hop * np.arange(len(windows))
    for dtype in (torch.float32, torch.bfloat16):
        scores = _in_batches(FoldedEngine(fd.fold(loaded.model, SAMPLES, dtype), False, 16, hop), windows, [16, 3])
        assert np.abs(scores - expected).max() <= (FP32_TOLERANCE if dtype == torch.float32 else BF16_TOLERANCE)
        assert (scores.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.99
        decided, naive = Decider(settings).update(ends, scores)[1], Decider(settings).update(ends, expected)[1]
        assert [(d.end, d.label) for d in decided] == [(d.end, d.label) for d in naive] != []


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fast")
    return {
        "weights": save_tone_model(root / "tones.safetensors"),
        "clip": write_clip(root / "clip.wav", stream([(1.3, "low"), (3.2, "high"), (5.1, "low")], seconds=6.5)),
        "root": root,
    }


def _listen(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env["COLUMNS"] = "200"  # the live view's model line whole
    return subprocess.run([sys.executable, "-m", "livecmd", "listen", *args], capture_output=True, text=True, timeout=120, env=env)


def _clip_args(files: dict[str, Path]) -> list[str]:
    # two of the cached engine's 101.25-ms hops: half the windows (bf16 crawls on CPUs without bf16 units)
    return ["--input", str(files["clip"]), "--weights", str(files["weights"]), "--json", "--fast", "--device", "cpu", "--hop-ms", "202.5"]


@pytest.fixture(scope="module")
def torch_events(files: dict[str, Path]) -> list[dict]:
    """The events of the naive path: the torch engine (the model's own forward, fp32)."""
    result = _listen(*_clip_args(files), "--engine", "torch")
    assert result.returncode == 0 and "torch fp32 engine" in result.stderr, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("engine,precision", [("cached", "bf16"), ("cached", "fp32"), ("folded", "bf16"), ("folded", "fp32")])
def test_each_engine_gives_the_torch_engines_events_through_the_cli(files, torch_events, engine: str, precision: str) -> None:
    result = _listen(*_clip_args(files), "--engine", engine, "--precision", precision, "--threads", "2")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["time"], e["label"]) for e in events] == [(e["time"], e["label"]) for e in torch_events]
    assert [e["label"] for e in events] == ["low", "high", "low"]
    tolerance = FP32_TOLERANCE if precision == "fp32" else BF16_TOLERANCE
    assert all(abs(e["score"] - r["score"]) <= tolerance + 1e-4 for e, r in zip(events, torch_events))  # 4 decimals printed
    # 6.5 s of clip and a window less a hop of silence: windows end every 3,240 samples from 1 s
    assert f"{engine} {precision} engine" in result.stderr and "32 windows" in result.stderr


def test_cached_engine_rounds_the_hop_to_its_grid_and_says_so(files: dict[str, Path]) -> None:
    result = _listen("--input", str(files["clip"]), "--weights", str(files["weights"]), "--fast", "--device", "cpu", "--hop-ms", "100", "--engine", "cached")
    assert result.returncode == 0, result.stderr
    assert "every 101.25 ms" in result.stdout and "cached " in result.stdout
    assert "64 windows" in result.stderr  # 65 at 100 ms


@pytest.mark.parametrize(
    "args,message",
    [
        (["--engine", "onnx"], "unknown --engine 'onnx'"),
        (["--precision", "fp8"], "unknown --precision 'fp8'"),
        (["--engine", "torch", "--precision", "bf16"], "torch engine computes in fp32"),
        (["--engine", "folded", "--weights", "RESE"], "SampleCNN weights only"),
    ],
    ids=["unknown-engine", "unknown-precision", "bf16-torch", "folded-rese2multi"],
)
def test_an_engine_that_cannot_run_is_one_line_and_exit_2(files, monkeypatch, capsys, args: list[str], message: str) -> None:
    rese = files["root"] / "rese.safetensors"
    if not rese.exists():
        random_weights(rese, "speech", "rese2multi")
    args = [str(rese) if a == "RESE" else a for a in args]
    if "--weights" not in args:
        args += ["--weights", str(files["weights"])]
    code, out, err = run_cli(["listen", "--input", str(files["clip"]), "--device", "cpu", *args], monkeypatch, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err
