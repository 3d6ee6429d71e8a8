"""The sinks of `livecmd listen` (the Rich live view, JSON lines, a callback) and the device
table, rendered with a recording Console."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta

import numpy as np
from rich.console import Console

from livecmd.domains import DOMAINS
from livecmd.sinks import Callback, JsonLines, LiveView, Update, narrowband_hint
from livecmd.stream.decide import Detection
from livecmd.stream.sources import device_table

SPEECH = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_silence_", "_unknown_")
SHIPPED_MODEL = "speech-samplecnn.safetensors (samplecnn, speech, 12 labels, 1 s windows every 101.25 ms)"


def _console(width: int = 110, height: int = 40) -> Console:
    return Console(record=True, width=width, height=height, file=io.StringIO(), force_terminal=True, color_system=None)


def _text(console: Console, renderable) -> str:
    console.print(renderable)
    return console.export_text()


def _update(scores, stream_s: float = 1.0, detections=(), latencies=(), level_db: float = -30.0,
            latency_ms=(9.0, 9.0), dropped_s: float = 0.0) -> Update:
    return Update(np.asarray(scores, dtype=np.float32), level_db, stream_s, list(detections), list(latencies), latency_ms, dropped_s)


def test_live_view_shows_labels_scores_detections_latency_dropped_device_and_model() -> None:
    labels = ("yes", "no", "_silence_")
    view = LiveView(labels, (0.5, 0.5, 0.5), model="speech.safetensors (samplecnn)", device="cpu; input mic", console=_console())
    view.show(_update([0.81, 0.07, 0.12], 12.3, [Detection("yes", 11.9, 0.81, 190_400)], [14.2], -23.4, (12.5, 31.0), 0.25))
    text = _text(view.console, view.render())
    for label in labels:
        assert label in text
    assert "0.81" in text and "11.90" in text and "14.2" in text  # the detection: time, confidence, latency
    assert "p50 12.5 ms" in text and "p99 31.0 ms" in text
    assert "dropped 0.25 s" in text
    assert "-23.4 dBFS" in text and "12.3 s" in text and "gain" not in text
    assert "cpu; input mic" in text and "speech.safetensors (samplecnn)" in text
    view.show(Update(np.asarray([0.1, 0.1, 0.8], dtype=np.float32), -52.0, 13.0, [], [], (12.5, 31.0), 0.25, gain_db=24.4))
    assert "-52.0 dBFS  gain +24 dB" in _text(view.console, view.render())  # a quiet microphone, brought up
    assert "nothing above 4 kHz" not in _text(view.console, view.render())
    view.show(Update(np.asarray([0.1, 0.1, 0.8], dtype=np.float32), -30.0, 14.0, [], [], (12.5, 31.0), 0.25, narrowband=True))
    assert "nothing above 4 kHz" in _text(view.console, view.render())  # a headset in its hands-free mode


def test_live_view_of_fifty_tags_shows_the_highest_scores() -> None:
    labels = DOMAINS["mtat"].labels
    view = LiveView(labels, (0.5,) * len(labels), "mtat.safetensors", "cpu", console=_console(height=60))
    view.scores = np.linspace(0.0, 1.0, len(labels))
    text = _text(view.console, view.render())
    assert "top 32 of 50" in text
    assert labels[-1] in text and f" {labels[0]} " not in text  # the lowest score is left out


def test_live_view_fits_80_by_24_and_shows_detections_newest_first_while_it_runs() -> None:
    """The speech model's 12 bars, its long model line and the detections, in a terminal of
    80 × 24: every detection so far is on screen before the clip ends, the newest on top."""
    console = _console(width=80, height=24)
    view = LiveView(SPEECH, (0.5,) * 12, SHIPPED_MODEL, "cpu, cached fp32 engine; input a clip", console=console)
    heard = [Detection("up", 1.30, 0.66, 20_800), Detection("left", 3.03, 0.66, 48_480), Detection("no", 4.65, 0.63, 74_400)]
    for i, detection in enumerate(heard):
        view.show(_update(np.eye(12)[i], detection.time, [detection], [80.0]))
    view.close()
    lines = console.export_text().splitlines()  # what the terminal showed: the live frames and the summary
    frame = _text(_console(80, 24), view.render()).splitlines()
    assert len(frame) <= 23  # the last row stays free for the cursor
    assert max(len(line) for line in frame) <= 80
    shown = [line for line in frame if any(f" {d.label} " in line and f"{d.time:.2f}" in line for d in heard)]
    assert [d.label for d in heard if any(f"{d.time:.2f}" in line for line in shown)] == ["up", "left", "no"]
    times = [float(t) for line in shown for t in line.split() if t in {f"{d.time:.2f}" for d in heard}]
    assert times == sorted(times, reverse=True)  # newest first
    assert "".join(frame).replace(" ", "").count(SHIPPED_MODEL.replace(" ", "")) == 0  # wrapped, not cut:
    assert SHIPPED_MODEL.replace(" ", "") in "".join(line.strip(" │") for line in frame).replace(" ", "")
    assert "..." not in "\n".join(lines) and "…" not in "\n".join(frame)


def test_closing_leaves_the_final_view_and_every_detection_of_the_run() -> None:
    console = _console(width=80, height=24)
    view = LiveView(SPEECH, (0.5,) * 12, SHIPPED_MODEL, "cpu", console=console)
    heard = [Detection(SPEECH[i % 10], 1.0 + 2 * i, 0.7, 16_000 + 32_000 * i) for i in range(20)]
    for detection in heard:
        view.show(_update(np.full(12, 0.1), detection.time, [detection], [50.0]))
    view.close()
    text = console.export_text()
    assert "20 detections" in text
    summary = text[text.rindex("20 detections"):]
    assert [line.split()[0] for line in summary.splitlines()[2:]] == [f"{d.time:.2f}" for d in heard]  # all, in time order
    assert "newest 11 of 20 detections" in text  # the live frame said how many it left out


def test_a_wake_words_event_is_marked_in_the_view_and_the_json_lines() -> None:
    heard = [Detection("hey_mirror", 3.3, 0.9, 52_800, wake=True), Detection("up", 5.2, 0.8, 83_200)]
    console = _console(width=80, height=24)
    view = LiveView(SPEECH, (0.5,) * 12, SHIPPED_MODEL, "cpu", console=console)
    view.show(_update(np.full(12, 0.1), 5.3, heard, [40.0, 41.0]))
    view.close()
    rows = [line.split() for line in console.export_text().splitlines()]
    assert ["3.30", "hey_mirror", "(wake)", "0.90", "40.0"] in rows and ["5.20", "up", "0.80", "41.0"] in rows
    out = io.StringIO()
    JsonLines(out, None, SPEECH).show(_update(np.full(12, 0.1), 5.3, heard, [40.0, 41.0]))
    assert [json.loads(line).get("wake") for line in out.getvalue().splitlines()] == [True, None]


def test_json_lines_write_one_object_per_detection_and_nothing_else() -> None:
    out = io.StringIO()
    sink = JsonLines(out)
    sink.show(_update([0.9, 0.1], 2.0, [Detection("on", 1.5, 0.91234, 24_000), Detection("off", 1.9, 0.8, 30_400)], [9.123, 4.0]))
    sink.show(_update([0.1, 0.1], 2.1))
    sink.close()
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"time": 1.5, "label": "on", "score": 0.9123, "latency_ms": 9.12},
        {"time": 1.9, "label": "off", "score": 0.8, "latency_ms": 4.0},
    ]
    clocked = io.StringIO()
    before = datetime.now().astimezone()
    JsonLines(clocked, wall_clock=True).show(_update([0.9, 0.1], 2.0, [Detection("on", 1.5, 0.9, 24_000)], [500.0]))
    (line,) = [json.loads(line) for line in clocked.getvalue().splitlines()]
    at = datetime.fromisoformat(line["at"])  # a microphone's: when the word's window ended, local time with its offset
    assert at.utcoffset() == before.utcoffset() and timedelta(milliseconds=400) < before - at < timedelta(milliseconds=600)
    assert set(line) == {"time", "label", "score", "latency_ms", "at"}


def test_the_narrowband_hint_names_yes_and_stop_only_for_a_model_that_knows_them() -> None:
    """Those two are what an 8-kHz microphone was measured to cost the shipped commands; a tag
    model or a custom vocabulary hears of the lost band in general."""
    assert "Commands like yes and stop are missed" in narrowband_hint(SPEECH)
    for labels in (DOMAINS["mtat"].labels, ("lights", "music", "_silence_", "_unknown_")):
        hint = narrowband_hint(labels)
        assert "nothing above 4 kHz" in hint and "hands-free" in hint and "Commands" not in hint and "yes" not in hint
    err = io.StringIO()
    sink = JsonLines(io.StringIO(), err, DOMAINS["dcase"].labels)
    for _ in range(3):
        sink.show(Update(np.zeros(len(DOMAINS["dcase"].labels), np.float32), -30.0, 1.0, [], [], None, 0.0, narrowband=True))
    assert err.getvalue().count("nothing above 4 kHz") == 1 and "yes and stop" not in err.getvalue()
    view = LiveView(DOMAINS["mtat"].labels, (0.5,) * 50, "mtat.safetensors", "cpu", console=_console(height=60))
    view.show(Update(np.zeros(50, np.float32), -30.0, 14.0, [], [], None, 0.0, narrowband=True))
    text = _text(view.console, view.render())
    assert "nothing above 4 kHz" in text and "yes and stop" not in text


def test_a_lost_microphone_shows_in_the_view_and_is_said_once_on_stderr_as_is_its_return() -> None:
    lost = "microphone 'usb' lost (its stream ended): waiting for it to come back"
    view = LiveView(SPEECH, (0.5,) * 12, SHIPPED_MODEL, "cpu", console=_console())
    err = io.StringIO()
    sink = JsonLines(io.StringIO(), err, SPEECH)
    for waiting in (None, lost, lost, None, None):
        update = Update(np.zeros(12, np.float32), -100.0, 3.0, [], [], None, 4.2 if waiting is None else 0.0, lost=waiting)
        view.show(update)
        sink.show(update)
        assert (lost in " ".join(_text(_console(), view.render()).split())) == (waiting is not None)
    assert err.getvalue().splitlines() == [f"livecmd listen: {lost}", "livecmd listen: microphone found: listening (4.2 s of audio not heard in all)"]


def test_a_microphones_live_view_gives_each_detection_the_local_time_it_was_heard() -> None:
    """Left on for hours, stream seconds say little: from a microphone the detections show the
    clock's time (now less the latency), in the live frame and in the history at the end."""
    console = _console(width=80, height=24)
    view = LiveView(SPEECH, (0.5,) * 12, SHIPPED_MODEL, "cpu; input microphone 'usb'", console=console, wall_clock=True)
    before = datetime.now().astimezone()
    view.show(_update(np.eye(12)[2], 38_211.5, [Detection("up", 38_211.52, 0.9, 611_384_320)], [2_000.0]))
    heard = {(before - timedelta(milliseconds=2_000) + timedelta(seconds=k)).strftime("%H:%M:%S") for k in (0, 1)}  # a second's edge
    frame = _text(_console(80, 24), view.render())
    assert any(re.search(rf"{when}\s+up\s+0.90", frame) for when in heard) and re.search(r"\bat\s+label\s+score", frame)
    assert "38211.52" not in frame
    view.close()
    history = console.export_text().splitlines()[-1]
    assert history.split()[0] in heard and history.split()[1] == "up"


def test_callback_gets_each_detection_in_order() -> None:
    got: list[Detection] = []
    sink = Callback(got.append)
    first, second = Detection("on", 1.5, 0.9, 24_000), Detection("off", 3.0, 0.8, 48_000)
    sink.show(_update([0.9, 0.1], 1.5, [first], [1.0]))
    sink.show(_update([0.1, 0.1], 2.0))
    sink.show(_update([0.1, 0.9], 3.0, [second], [1.0]))
    sink.close()
    assert got == [first, second]


def test_device_table_lists_inputs_and_marks_the_default() -> None:
    devices = [
        {"index": 0, "name": "pulse", "hostapi": "ALSA", "channels": 32, "rate": 44100.0, "default": False},
        {"index": 1, "name": "default", "hostapi": "ALSA", "channels": 32, "rate": 44100.0, "default": True},
    ]
    text = _text(_console(), device_table(devices))
    assert "pulse" in text and "44100 Hz" in text
    assert any("default" in line and "*" in line for line in text.splitlines())
    assert "no capture device" in _text(_console(), device_table([]))
