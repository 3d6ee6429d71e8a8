"""The Rich live view and the device table, rendered with a recording Console."""

from __future__ import annotations

import io

import numpy as np
from rich.console import Console

from livecmd.domains import DOMAINS
from livecmd.stream.decide import Detection
from livecmd.ui import MAX_BARS, LiveView, device_table


def _console() -> Console:
    return Console(record=True, width=110, file=io.StringIO(), force_terminal=True, color_system=None)


def _text(console: Console, renderable) -> str:
    console.print(renderable)
    return console.export_text()


def test_live_view_shows_labels_scores_detections_latency_dropped_device_and_model() -> None:
    labels = ("yes", "no", "_silence_")
    view = LiveView(labels, (0.5, 0.5, 0.5), model="speech.safetensors (samplecnn)", device="cpu; input mic", console=_console())
    view.show(
        scores=np.array([0.81, 0.07, 0.12]), level_db=-23.4, stream_s=12.3,
        detections=[(Detection(11.9, "yes", 0.81, 190_400), 14.2)],
        latency_ms=(12.5, 31.0), dropped_s=0.25,
    )
    text = _text(view.console, view.render())
    for label in labels:
        assert label in text
    assert "0.81" in text and "11.90" in text and "14.2" in text  # the detection: time, confidence, latency
    assert "p50 12.5 ms" in text and "p99 31.0 ms" in text
    assert "dropped" in text and "0.25 s" in text
    assert "-23.4 dBFS" in text and "12.3 s" in text
    assert "cpu; input mic" in text and "speech.safetensors (samplecnn)" in text


def test_live_view_of_fifty_tags_shows_the_highest_scores() -> None:
    labels = DOMAINS["mtat"].labels
    scores = np.linspace(0.0, 1.0, len(labels))
    view = LiveView(labels, (0.5,) * len(labels), "mtat.safetensors", "cpu", console=_console())
    view.scores = scores
    text = _text(view.console, view.render())
    assert f"top {MAX_BARS} of {len(labels)}" in text
    assert labels[-1] in text and f" {labels[0]} " not in text  # the lowest score is left out


def test_closing_leaves_the_final_view_on_screen() -> None:
    console = _console()
    view = LiveView(("on", "off"), (0.5, 0.5), "m", "cpu", console=console)
    view.show(np.array([0.9, 0.1]), -30.0, 2.0, [(Detection(1.5, "on", 0.9, 24_000), 9.0)], (9.0, 9.0), 0.0)
    view.close()
    assert "recent detections" in console.export_text()


def test_device_table_lists_inputs_and_marks_the_default() -> None:
    devices = [
        {"index": 0, "name": "pulse", "hostapi": "ALSA", "channels": 32, "rate": 44100.0, "default": False},
        {"index": 1, "name": "default", "hostapi": "ALSA", "channels": 32, "rate": 44100.0, "default": True},
    ]
    text = _text(_console(), device_table(devices))
    assert "pulse" in text and "44100 Hz" in text
    assert any("default" in line and "*" in line for line in text.splitlines())
    assert "no capture device" in _text(_console(), device_table([]))
