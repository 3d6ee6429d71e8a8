"""Decisions alone: from window scores to one event per word, none on silence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from livecmd.domains import SILENCE, UNKNOWN
from livecmd.errors import LivecmdError
from livecmd.stream.decide import DecideSettings, Decider, label_thresholds
from livecmd.stream.engine import TorchEngine
from tests.tones import RATE, TONE_LABELS, stream, tone_model

HOP = 1_600  # 100 ms


def _decider(labels=TONE_LABELS, threshold=0.5, smooth=3, refractory_s=1.0, multi_label=False) -> Decider:
    thresholds = threshold if isinstance(threshold, tuple) else (threshold,) * len(labels)
    return Decider(DecideSettings(labels, thresholds, smooth, round(refractory_s * RATE), multi_label, RATE))


def _ends(n: int, first: int = RATE) -> np.ndarray:
    return first + HOP * np.arange(n)


def test_one_event_per_tone_word_and_none_on_silence() -> None:
    words = [(1.3, "low"), (3.2, "high"), (5.1, "low")]
    wave = stream(words, seconds=7.5)
    ends = np.arange(RATE, len(wave) + 1, HOP)
    windows = np.stack([wave[e - RATE : e] for e in ends])
    engine = TorchEngine(tone_model(), torch.device("cpu"), False, RATE, 3, max_batch=len(windows))
    decider = _decider()
    detections = []
    for batch in np.array_split(np.arange(len(ends)), 9):  # in batches, as the listen loop feeds it
        detections += decider.update(ends[batch], engine(windows[batch]))[1]
    assert [d.label for d in detections] == [label for _, label in words]
    for detection, (start, _) in zip(detections, words):
        # raw score 1 from the first window holding ~10 ms of the tone; the mean of 3 windows
        # reaches 0.5 on the second: the event is at most 2 hops after the word starts
        assert start < detection.time <= start + 0.21, (detection, start)
        assert detection.end == round(detection.time * RATE)


def test_silence_and_unknown_never_fire() -> None:
    labels = ("yes", SILENCE, UNKNOWN)
    scores = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]] * 20, dtype=np.float32)
    _, detections = _decider(labels, smooth=1).update(_ends(40), scores)
    assert detections == []


def test_a_word_whose_score_flickers_fires_once_within_the_refractory_time() -> None:
    yes = np.array([0.9, 0.2, 0.9, 0.1, 0.95, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.9])
    scores = np.stack([yes, np.zeros_like(yes), 1 - yes], axis=1).astype(np.float32)
    _, detections = _decider(("yes", "no", SILENCE), smooth=1).update(_ends(len(yes)), scores)
    # 0.0, 0.2, 0.4 s: one word; 1.2 s: refractory (1 s) over, a second word
    assert [(d.label, d.time - 1.0) for d in detections] == [("yes", 0.0), ("yes", pytest.approx(1.2))]


def test_a_second_label_crossing_inside_the_refractory_time_is_the_same_word() -> None:
    scores = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.0, 0.0, 1.0]], dtype=np.float32)
    _, detections = _decider(("go", "no", SILENCE), smooth=1).update(_ends(3), scores)
    assert [d.label for d in detections] == ["go"]


def test_smoothing_ignores_a_one_window_spike() -> None:
    scores = np.tile(np.array([[0.0, 0.0, 1.0]], dtype=np.float32), (10, 1))
    scores[4] = [1.0, 0.0, 0.0]
    smoothed, detections = _decider(smooth=3).update(_ends(10), scores)
    assert detections == []
    assert smoothed[4, 0] == pytest.approx(1 / 3) and smoothed[7, 0] == 0.0


def test_per_label_thresholds() -> None:
    scores = np.array([[0.7, 0.0, 0.3], [0.0, 0.0, 1.0]] * 3 + [[0.0, 0.7, 0.3]], dtype=np.float32)
    strict_low = label_thresholds(TONE_LABELS, every=0.5, per_label={"low": 0.8})
    _, detections = _decider(threshold=strict_low, smooth=1, refractory_s=0).update(_ends(7), scores)
    assert [d.label for d in detections] == ["high"]


def test_tags_of_a_multi_label_model_fire_each_on_its_own() -> None:
    labels = ("Car alarm", "Train horn", "Bus")
    scores = np.array([[0.9, 0.1, 0.1], [0.9, 0.8, 0.1], [0.9, 0.8, 0.1], [0.1, 0.1, 0.1], [0.9, 0.1, 0.1]], dtype=np.float32)
    _, detections = _decider(labels, smooth=1, refractory_s=0.25, multi_label=True).update(_ends(5), scores)
    # Car alarm: rises at 0.0 s, falls at 0.3 s, rises again at 0.4 s (past its own 0.25 s);
    # Train horn rises at 0.1 s although Car alarm fired 0.1 s before
    assert [(d.label, round(d.time - 1.0, 1)) for d in detections] == [("Car alarm", 0.0), ("Train horn", 0.1), ("Car alarm", 0.4)]


@pytest.mark.parametrize("every,per_label,message", [
    (1.5, None, r"\(0, 1\]"), (None, {"yes": 0.0}, r"\(0, 1\]"), (None, {"yes": "abc"}, r"\(0, 1\]"),
    (None, {"maybe": 0.5}, "no label 'maybe'"),
])
def test_bad_thresholds_are_user_errors(every, per_label, message: str) -> None:
    with pytest.raises(LivecmdError, match=message):
        label_thresholds(("yes", "no"), every=every, per_label=per_label)


def test_a_held_score_fires_once_after_its_hold_and_a_brief_peak_never() -> None:
    labels = ("yes", "no", SILENCE)
    quiet, yes = [0.0, 0.0, 1.0], [0.9, 0.05, 0.05]
    # a one-window peak, quiet, then "yes" held for four windows
    scores = np.array([quiet, yes, quiet, quiet, yes, yes, yes, yes, quiet], dtype=np.float32)
    settings = DecideSettings(labels, (0.5, 0.5, 0.5), 1, 0, False, RATE, hold_windows=3)
    _, detections = Decider(settings).update(_ends(len(scores)), scores)
    assert [(d.label, d.end) for d in detections] == [("yes", int(_ends(9)[6]))]  # the third window in a row, once
    _, unheld = Decider(DecideSettings(labels, (0.5, 0.5, 0.5), 1, 0, False, RATE)).update(_ends(len(scores)), scores)
    assert [d.end for d in unheld] == [int(_ends(9)[1]), int(_ends(9)[4])]  # without a hold the peak fires too


def _peak_decider(labels=("yes", "no", "go", SILENCE), peak_windows=1, hold_windows=1, refractory_s=1.0) -> Decider:
    return Decider(DecideSettings(labels, (0.5,) * len(labels), 1, round(refractory_s * RATE), False, RATE,
                                  hold_windows=hold_windows, peak_windows=peak_windows))


def test_peak_picking_fires_the_label_that_peaks_highest_once_its_score_stops_rising() -> None:
    # "no" heard as `go` first: `go` crosses a hop before `no` peaks higher.
    go = np.array([0.0, 0.6, 0.4, 0.2, 0.0, 0.0, 0.0])
    no = np.array([0.0, 0.3, 0.65, 0.8, 0.7, 0.1, 0.0])
    scores = np.stack([np.zeros_like(go), no, go, 1 - no - go], axis=1).astype(np.float32)
    _, first = _peak_decider(peak_windows=0).update(_ends(len(go)), scores)
    assert [(d.label, d.time - 1.0) for d in first] == [("go", pytest.approx(0.1))]  # the refractory time then silences `no`
    _, peaked = _peak_decider().update(_ends(len(go)), scores)
    # `no` peaks at 0.3 s and falls at 0.4 s: one event, at the window that saw the fall
    assert [(d.label, d.time - 1.0, d.score) for d in peaked] == [("no", pytest.approx(0.4), pytest.approx(0.8))]


def test_peak_picking_does_not_wait_on_a_saturated_score_and_fires_once_per_run() -> None:
    # a score that creeps up by less than PEAK_RISE is a plateau; it stays above the threshold for
    # 3 s, longer than the refractory time, and still fires once
    yes = np.concatenate([[0.0, 0.99], np.linspace(0.991, 0.999, 29), [0.0] * 5, [0.9, 0.9, 0.0]])
    scores = np.stack([yes, np.zeros_like(yes), np.zeros_like(yes), 1 - yes], axis=1).astype(np.float32)
    _, detections = _peak_decider().update(_ends(len(yes)), scores)
    assert [(d.label, d.time - 1.0) for d in detections] == [("yes", pytest.approx(0.2)), ("yes", pytest.approx(3.7))]


def test_peak_picking_opens_a_run_that_reached_the_hold_inside_the_refractory_time_when_it_ends() -> None:
    # `yes` fires at 0.1 s; `no` holds from 0.5 s on, inside the 1-s refractory time: with the
    # event waiting for its peak it fires once that time is over, not never
    yes = np.array([0.0, 0.9, 0.0, 0.0, 0.0] + [0.0] * 12)
    no = np.array([0.0, 0.0, 0.0, 0.0, 0.0] + [0.8] * 12)
    scores = np.stack([yes, no, np.zeros_like(yes), 1 - yes - no], axis=1).astype(np.float32)
    _, detections = _peak_decider().update(_ends(len(yes)), scores)
    assert [d.label for d in detections] == ["yes", "no"]
    assert detections[1].time - detections[0].time >= 1.0
