"""Test helpers for the live path: a fixed-weights SampleCNN whose classes are tones, and
streams of tone "words" at known times.

The model is the real SampleCNN of `build_model`, with weights set by hand rather than trained
(training even a tiny one takes minutes on a 2-core CPU). The stem's filter 0 is a 3-sample sum
(passes low frequencies: 3× a 250 Hz tone's amplitude, 1× a 4 kHz tone's) and filter 1 a
3-sample second difference (high-pass: 2× a 4 kHz tone's amplitude, ~0 for 250 Hz); every
block passes those two channels through unchanged (centre tap 1, BN identity), so after the
global max the head sees the peak low-pass and high-pass responses of the whole window:

    logit(low)  = K · (low − high − T)
    logit(high) = K · (high − T)
    logit(rest) = 0   (`_silence_` for speech; multi-label domains: the other labels at −K)

A tone anywhere in the window makes its class win; noise at 0.01 RMS leaves both below T.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from livecmd import weights
from livecmd.domains import DOMAINS, SILENCE
from livecmd.models import build_model

RATE = 16_000
LOW_HZ, HIGH_HZ = 250.0, 4000.0
TONE_LABELS = ("low", "high", SILENCE)
_K, _T = 12.0, 0.3


def tone_model(domain: str = "speech", labels: tuple[str, ...] = TONE_LABELS) -> torch.nn.Module:
    """The fixed-weights tone detector as a `domain` SampleCNN with `labels` outputs; the first
    two labels are the low and the high tone."""
    model = build_model(domain, "samplecnn", n_labels=len(labels))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv1d, torch.nn.Linear)):
                module.weight.zero_()
                module.bias.zero_()
            elif isinstance(module, torch.nn.BatchNorm1d):
                module.weight.fill_(1.0)
                module.bias.zero_()
                module.running_mean.zero_()
                module.running_var.fill_(1.0)
        stem_conv = model.layers[0][0]
        stem_conv.weight[0, 0] = torch.tensor([1.0, 1.0, 1.0])
        stem_conv.weight[1, 0] = torch.tensor([1.0, -2.0, 1.0])
        for block in model.layers[1:]:
            conv = block[0]
            conv.weight[0, 0, 1] = 1.0
            conv.weight[1, 1, 1] = 1.0
        head = model.head[-1]
        head.weight[0, 0], head.weight[0, 1], head.bias[0] = _K, -_K, -_K * _T
        head.weight[1, 1], head.bias[1] = _K, -_K * _T
        if DOMAINS[domain].multi_label:
            head.bias[2:] = -_K
    return model.eval()


def save_tone_model(path: Path, domain: str = "speech", labels: tuple[str, ...] = TONE_LABELS) -> Path:
    d = DOMAINS[domain]
    meta = weights.WeightsMeta("samplecnn", domain, labels, d.sample_rate, d.input_samples,
                               "none: fixed weights that detect a 250 Hz and a 4 kHz tone (tests/tones.py)")
    return weights.save(path, tone_model(domain, labels), meta)


def tone(hz: float, seconds: float, amplitude: float = 0.4, rate: int = RATE) -> np.ndarray:
    """A sine burst with 10 ms raised-cosine edges (no click for the high-pass to see)."""
    t = np.arange(round(seconds * rate)) / rate
    wave = amplitude * np.sin(2 * np.pi * hz * t)
    edge = round(0.01 * rate)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, edge))
    wave[:edge] *= ramp
    wave[-edge:] *= ramp[::-1]
    return wave.astype(np.float32)


def stream(words: list[tuple[float, str]], seconds: float, word_s: float = 0.4, noise: float = 0.01,
           rate: int = RATE, seed: int = 0) -> np.ndarray:
    """`seconds` of low noise with tone words ("low"/"high") starting at the given times (s)."""
    wave = np.random.default_rng(seed).normal(0.0, noise, round(seconds * rate)).astype(np.float32)
    for start, label in words:
        burst = tone(LOW_HZ if label == "low" else HIGH_HZ, word_s, rate=rate)
        at = round(start * rate)
        wave[at : at + len(burst)] += burst
    return wave


def write_clip(path: Path, wave: np.ndarray, rate: int = RATE, **kwargs) -> Path:
    sf.write(path, wave, rate, **kwargs)
    return path
