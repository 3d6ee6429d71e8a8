"""The paper's filter pictures (Lee et al. 2017, section 4 and Figure 2), by activation maximization.

For one layer, every filter gets its own input: random noise of 729 (= 3^6) samples, changed by
gradient ascent until the filter's mean activation over time is as large as it gets. 729 samples
is the paper's choice: the stem and five blocks each divide time by 3, so by layer 6 one input
is exactly one output step ("frame-sized" estimates whose spectra are clear). The log-magnitude
spectra of the results (0 Hz to half the sample rate), sorted by the frequency of their peak,
drawn side by side, are the paper's Figure 2.

"The filter's activation" is the output of the whole layer: for the stem, conv → BN → ReLU; for
a SampleCNN block, conv → BN → ReLU → max-pool; for a ReSE-2 block, the pooled ReLU of the
residual sum (after SE). The model runs in eval mode (BN running statistics, no dropout).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from livecmd.compute import pick_device
from livecmd.errors import LivecmdError
from livecmd.weights import Loaded, load

FLOOR_DB = -60.0
"""Spectra are drawn in dB relative to each filter's own peak, down to this floor."""


@dataclass(frozen=True)
class AscentSettings:
    """How the inputs are found.

    The input is kept on a sphere of fixed RMS: without a bound the ascent would only make it
    louder. Unit RMS is loud enough that the conv biases and BN shifts do not decide the result,
    so the picture shows which frequencies a filter responds to rather than its offset. Each step
    moves the input by `step_size` × RMS along the gradient normalised to unit RMS (normalised
    gradient ascent: the step length does not depend on how large the layer's gradients are).
    """

    samples: int = 729  # 3^6: the paper's initial noise
    steps: int = 100
    step_size: float = 0.2
    rms: float = 1.0
    seed: int = 0


@dataclass(frozen=True, eq=False)
class LayerFilters:
    """One layer's activation-maximizing inputs, sorted by the frequency of their spectral peak.

    All arrays are in sorted order: `order[i]` is the layer's own index of the i-th filter drawn.
    """

    layer: int  # 1-based over model.layers: 1 is the strided stem, k + 1 the k-th block
    waves: np.ndarray  # (filters, samples) float32, the inputs found
    order: np.ndarray  # (filters,) int
    peak_hz: np.ndarray  # (filters,) non-decreasing
    freqs_hz: np.ndarray  # (bins,) rfft bin frequencies, 0 .. sample_rate / 2
    spectra_db: np.ndarray  # (filters, bins) log magnitude, dB re. each filter's peak, >= FLOOR_DB
    start_activation: np.ndarray  # (filters,) the filter's mean activation on the start noise
    final_activation: np.ndarray  # (filters,) ... on the input found


def parse_layers(text: str) -> list[int]:
    """'1,2,6' → [1, 2, 6] (1-based layer numbers, as on the command line)."""
    try:
        layers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise LivecmdError(f"--layers {text!r}: give layer numbers separated by commas, e.g. 1,2,6") from None
    if not layers:
        raise LivecmdError("--layers is empty: give layer numbers separated by commas, e.g. 1,2,6")
    return layers


def check_layers(layers: Sequence[int], model: nn.Module, name: str) -> None:
    """A layer number the model does not have is the user's error: say which ones exist."""
    count = len(model.layers)
    missing = [n for n in layers if not 1 <= n <= count]
    if missing:
        raise LivecmdError(
            f"{name} has no layer {', '.join(map(str, missing))}: its layers are 1 (the strided stem) "
            f"to {count} (block {count - 1})"
        )


def mean_activations(model: nn.Module, layer: int, waves: torch.Tensor) -> torch.Tensor:
    """Filter i's mean activation over time on input i.

    waves: (filters, samples), one input per filter of `layer` (1-based) → (filters,).
    """
    x = waves.unsqueeze(1)
    for module in model.layers[:layer]:
        x = module(x)
    index = torch.arange(len(waves), device=waves.device)
    return x[index, index].mean(dim=1)


def maximize(
    model: nn.Module,
    layer: int,
    settings: AscentSettings = AscentSettings(),
    on_step: Callable[[], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient ascent on the inputs of all filters of `layer` at once.

    One batch holds one input per filter, so a step is one forward and one backward pass for the
    whole layer (of the sum over filters of each filter's mean activation on its own input; the
    inputs do not interact, so each gets its own filter's gradient).
    Returns (waves (filters, samples) float32, start activations, final activations).
    """
    device = next(model.parameters()).device
    model.eval()
    generator = torch.Generator().manual_seed(settings.seed)
    with torch.no_grad():
        probe = torch.zeros(1, 1, settings.samples, device=device)
        for module in model.layers[:layer]:
            probe = module(probe)
    filters = probe.shape[1]

    def bounded(w: torch.Tensor) -> torch.Tensor:
        return w * (settings.rms / w.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-12))

    waves = bounded(torch.randn(filters, settings.samples, generator=generator)).to(device)
    with torch.no_grad():
        start = mean_activations(model, layer, waves)
    for _ in range(settings.steps):
        waves.requires_grad_(True)
        (grad,) = torch.autograd.grad(mean_activations(model, layer, waves).sum(), waves)
        with torch.no_grad():
            grad = grad / grad.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-12)
            waves = bounded(waves + settings.step_size * settings.rms * grad)
        if on_step is not None:
            on_step()
    with torch.no_grad():
        final = mean_activations(model, layer, waves)
    return waves.cpu().numpy(), start.cpu().numpy(), final.cpu().numpy()


def spectra(waves: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log-magnitude spectra of (filters, samples) waves.

    Returns (bin frequencies in Hz (bins,), dB re. each wave's peak, floored at FLOOR_DB
    (filters, bins), each wave's peak frequency in Hz (filters,)).
    """
    magnitude = np.abs(np.fft.rfft(waves, axis=1))
    freqs = np.fft.rfftfreq(waves.shape[1], d=1.0 / sample_rate)
    peak = magnitude.max(axis=1, keepdims=True)
    db = np.maximum(20 * np.log10(np.maximum(magnitude / np.maximum(peak, 1e-30), 1e-30)), FLOOR_DB)
    return freqs, db, freqs[magnitude.argmax(axis=1)]


def layer_filters(
    model: nn.Module,
    layer: int,
    sample_rate: int,
    settings: AscentSettings = AscentSettings(),
    on_step: Callable[[], None] | None = None,
) -> LayerFilters:
    """Maximize every filter of `layer` (1-based) and sort the results by spectral peak."""
    waves, start, final = maximize(model, layer, settings, on_step)
    freqs, db, peak_hz = spectra(waves, sample_rate)
    order = np.argsort(peak_hz, kind="stable")
    return LayerFilters(layer, waves[order], order, peak_hz[order], freqs, db[order], start[order], final[order])


def plot_spectra(path: Path, rows: Sequence[tuple[str, LayerFilters]], sample_rate: int) -> Path:
    """One row per model: filters (sorted) along x, frequency (kHz) up, one colour bar."""
    fig = Figure(figsize=(10, 3.2 * len(rows) + 0.6), layout="constrained")
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (name, filters) in zip(axes, rows):
        count = len(filters.order)
        image = ax.imshow(
            filters.spectra_db.T, origin="lower", aspect="auto", cmap="magma", vmin=FLOOR_DB, vmax=0,
            extent=(0.5, count + 0.5, 0, sample_rate / 2000), interpolation="nearest",
        )
        ax.set_title(f"{name}: layer {filters.layer}, {count} filters")
        ax.set_xlabel("filter index, sorted by peak frequency")
        ax.set_ylabel("frequency (kHz)")
    fig.colorbar(image, ax=list(axes), label="magnitude (dB re. the filter's peak)")
    fig.savefig(path, dpi=120)
    return path


def plot_waveforms(path: Path, rows: Sequence[tuple[str, LayerFilters]], sample_rate: int, count: int = 4) -> Path:
    """The inputs found for `count` filters per model, from the lowest to the highest peak."""
    fig = Figure(figsize=(3 * count, 2.4 * len(rows) + 0.4), layout="constrained")
    first = rows[0][1]
    fig.suptitle(f"layer {first.layer}: inputs that maximize single filters ({first.waves.shape[1]} samples)")
    for subfig, (name, filters) in zip(fig.subfigures(len(rows), 1, squeeze=False)[:, 0], rows):
        subfig.suptitle(name, fontsize=10)
        axes = subfig.subplots(1, count, squeeze=False)[0]
        picks = np.linspace(0, len(filters.order) - 1, count).round().astype(int)
        time_ms = np.arange(filters.waves.shape[1]) * 1000 / sample_rate
        for ax, i in zip(axes, picks):
            ax.plot(time_ms, filters.waves[i], linewidth=0.7)
            ax.set_title(f"filter {filters.order[i]}, peak {filters.peak_hz[i] / 1000:.2f} kHz", fontsize=9)
            ax.set_xlabel("time (ms)")
        axes[0].set_ylabel("amplitude")
    fig.savefig(path, dpi=120)
    return path


def visualize(
    weights: Sequence[str | Path],
    out: str | Path,
    layers: Sequence[int] | None = None,
    settings: AscentSettings = AscentSettings(),
    device: str = "auto",
    console: Console | None = None,
) -> list[Path]:
    """`livecmd visualize`: for each layer, `layerN.png` (spectra, one row per weights file) and
    `layerN-waveforms.png` in `out`. `layers` defaults to every layer all the models have.
    Returns the written paths."""
    console = console or Console()
    torch_device = pick_device(device)
    models: list[tuple[str, Loaded]] = []
    for path in weights:
        loaded = load(path, torch_device)
        models.append((f"{loaded.meta.domain} {loaded.meta.arch} ({Path(path).name})", loaded))
    if layers is None:
        layers = list(range(1, min(len(m.model.layers) for _, m in models) + 1))
    for name, loaded in models:
        check_layers(layers, loaded.model, name)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    written: list[Path] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("filters", total=len(models) * len(layers) * settings.steps)
        for layer in layers:
            rows = []
            for name, loaded in models:
                progress.update(task, description=f"layer {layer}, {name}")
                found = layer_filters(loaded.model, layer, loaded.meta.sample_rate, settings, lambda: progress.advance(task))
                gain = np.median(found.final_activation - found.start_activation)
                progress.console.print(f"layer {layer}, {name}: median activation gain {gain:+.3g}")
                rows.append((name, found))
            sample_rate = models[0][1].meta.sample_rate
            written.append(plot_spectra(out / f"layer{layer}.png", rows, sample_rate))
            written.append(plot_waveforms(out / f"layer{layer}-waveforms.png", rows, sample_rate))
    for path in written:
        console.print(f"wrote {path}")
    return written
