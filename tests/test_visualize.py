"""`livecmd visualize`: activation maximization, spectra sorted by peak, the PNGs, the CLI."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from matplotlib.image import imread

from livecmd.models import build_model
from livecmd.visualize import AscentSettings, layer_filters, maximize, spectra
from tests.conftest import random_weights, run_cli


def test_ascent_turns_every_stem_input_into_its_filters_own_shape():
    # The stem is conv(3 taps, stride 3) → BN → ReLU: with the input's RMS fixed, its mean
    # activation is largest when every 3-sample frame points along the filter's weights.
    torch.manual_seed(0)
    model = build_model("speech", "samplecnn").eval()
    settings = AscentSettings(steps=15)
    waves, _, _ = maximize(model, 1, settings)
    weights = model.layers[0][0].weight.detach().numpy()[:, 0, :]  # (filters, 3)
    unit = weights / np.linalg.norm(weights, axis=1, keepdims=True)

    def energy_along_filter(w: np.ndarray) -> np.ndarray:
        frames = w.reshape(len(w), -1, 3)
        along = np.maximum(np.einsum("fts,fs->ft", frames, unit), 0)
        return (along**2).sum(axis=1) / (frames**2).sum(axis=(1, 2))

    noise = torch.randn(len(unit), settings.samples, generator=torch.Generator().manual_seed(settings.seed)).numpy()
    assert np.median(energy_along_filter(noise)) < 0.3
    assert energy_along_filter(waves).min() > 0.9
    assert np.allclose(np.sqrt((waves**2).mean(axis=1)), settings.rms, rtol=1e-4)


@pytest.mark.parametrize("arch", ["samplecnn", "rese2multi"])
def test_activation_maximization_raises_every_live_filter_well_above_its_start_noise(arch):
    torch.manual_seed(0)
    model = build_model("speech", arch).eval()
    waves, start, final = maximize(model, 3, AscentSettings(steps=6))  # block 2: conv, BN, ReLU, pool
    assert waves.shape == (128, 729)
    live = start > 0  # a filter silent on all of its noise has no gradient to climb
    assert live.mean() > 0.7
    assert np.all(final[live] > start[live])
    assert np.median(final[live] / start[live]) > 2


@pytest.mark.parametrize("hz", [250.0, 1000.0, 3000.0, 7000.0])
def test_spectrum_peak_is_the_frequency_of_a_pure_tone(hz):
    sample_rate = 16_000
    t = np.arange(729) / sample_rate
    waves = np.stack([np.sin(2 * np.pi * hz * t), 0.3 * np.sin(2 * np.pi * hz * t + 1.0)]).astype(np.float32)
    freqs, db, peak_hz = spectra(waves, sample_rate)
    assert freqs[0] == 0 and freqs[-1] <= sample_rate / 2
    assert np.all(np.abs(peak_hz - hz) <= sample_rate / 729 / 2)
    assert np.allclose(db.max(axis=1), 0)  # each filter relative to its own peak, so loudness drops out
    assert db.min() >= -60


def test_layer_filters_are_sorted_by_non_decreasing_peak_frequency():
    torch.manual_seed(0)
    model = build_model("dcase", "samplecnn").eval()
    found = layer_filters(model, 2, 16_000, AscentSettings(steps=3))
    assert np.all(np.diff(found.peak_hz) >= 0)
    assert found.peak_hz.max() > found.peak_hz.min()
    assert sorted(found.order) == list(range(128))
    _, db, peak_hz = spectra(found.waves, 16_000)  # arrays stay aligned after sorting
    assert np.array_equal(peak_hz, found.peak_hz) and np.array_equal(db, found.spectra_db)


def test_visualize_command_writes_valid_pngs_with_one_row_per_model(tmp_path, monkeypatch, capsys):
    speech = random_weights(tmp_path / "speech.safetensors", "speech", "samplecnn")
    dcase = random_weights(tmp_path / "dcase.safetensors", "dcase", "rese2multi")
    both, single = tmp_path / "both", tmp_path / "single"

    code, out, err = run_cli(["visualize", "--weights", str(speech), "--weights", str(dcase), "--layers", "1,2", "--steps", "2", "--out", str(both)], monkeypatch, capsys)
    assert code == 0, err
    names = ["layer1.png", "layer1-waveforms.png", "layer2.png", "layer2-waveforms.png"]
    assert sorted(p.name for p in both.iterdir()) == sorted(names)
    for name in names:
        image = imread(both / name)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 600
        assert image[..., :3].std() > 0.05  # drawn, not blank
        assert f"wrote {both / name}" in out.replace("\n", "")

    code, _, err = run_cli(["visualize", "--weights", str(speech), "--layers", "1", "--steps", "1", "--out", str(single)], monkeypatch, capsys)
    assert code == 0, err
    assert imread(both / "layer1.png").shape[0] > 1.5 * imread(single / "layer1.png").shape[0]


def test_visualize_command_rejects_a_layer_the_model_lacks_and_names_those_it_has(tmp_path, monkeypatch, capsys):
    speech = random_weights(tmp_path / "speech.safetensors", "speech", "samplecnn")  # stem + 8 blocks
    code, _, err = run_cli(["visualize", "--weights", str(speech), "--layers", "2,10", "--out", str(tmp_path / "f")], monkeypatch, capsys)
    assert code == 2
    assert "no layer 10" in err and "1 (the strided stem) to 9" in err and "Traceback" not in err
    assert not (tmp_path / "f").exists()

    code, _, err = run_cli(["visualize", "--weights", str(speech), "--layers", "two"], monkeypatch, capsys)
    assert code == 2 and "--layers 'two'" in err
