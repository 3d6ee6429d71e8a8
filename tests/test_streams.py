"""Streams of words over noise (train.streams): where the words land, the noise level, and how
listen's events are matched to the words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from livecmd import Recognizer, weights
from livecmd.recognizer import Scored
from train import streams
from train.datasets.negatives import Recording

RATE = 16_000


def _word(path: Path, start_s: float, seconds: float, freq: float) -> Path:
    """A 1-s clip that is silent but for a tone from start_s lasting seconds."""
    wave = np.zeros(RATE, dtype=np.float32)
    t = np.arange(int(seconds * RATE)) / RATE
    wave[int(start_s * RATE) : int(start_s * RATE) + len(t)] = 0.5 * np.sin(2 * np.pi * freq * t)
    sf.write(path, wave, RATE, subtype="FLOAT")
    return path


def test_words_land_spacing_apart_over_noise_at_the_asked_ratio(tmp_path: Path) -> None:
    words = [("yes", _word(tmp_path / "a_nohash_0.wav", 0.3, 0.4, 440)),
             ("no", _word(tmp_path / "b_nohash_0.wav", 0.1, 0.5, 660))]
    noise = np.random.default_rng(0).normal(0, 1, RATE // 2).astype(np.float32)  # shorter than the stream: looped
    mix, truth = streams.build(words, noise, RATE, snr_db=20.0, spacing_s=1.6, lead_s=1.0, source_root=tmp_path)
    assert len(mix) == int((1.0 + 1.6 * 2 + 1.0) * RATE) and np.abs(mix).max() <= 0.9 + 1e-6
    assert [(t["label"], t["start"], t["end"], t["speaker"], t["source"]) for t in truth] == [
        ("yes", 1.0, 1.4, "a", "a_nohash_0.wav"), ("no", 2.6, 3.1, "b", "b_nohash_0.wav")]
    speech = np.concatenate([mix[int(t["start"] * RATE) : int(t["end"] * RATE)] for t in truth])
    gap = mix[int(1.5 * RATE) : int(2.5 * RATE)]  # noise only
    snr = 10 * np.log10(np.mean(speech**2) / np.mean(gap**2))
    assert abs(snr - 20.0) < 0.5, snr
    assert np.count_nonzero(mix[-RATE:]) == RATE  # the noise goes on to the end (looped)


def test_a_word_later_in_its_recording_than_the_lead_still_starts_at_the_lead(tmp_path: Path) -> None:
    # wake_words_real holds 3-s recordings with the phrase at 2 s; the lead is 1 s
    wave = np.zeros(3 * RATE, dtype=np.float32)
    wave[2 * RATE : int(2.5 * RATE)] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(RATE // 2) / RATE)
    sf.write(tmp_path / "late_nohash_0.wav", wave, RATE, subtype="FLOAT")
    silence = np.zeros(RATE, dtype=np.float32) + 1e-4
    mix, truth = streams.build([("snowboy", tmp_path / "late_nohash_0.wav")], silence, RATE, snr_db=40.0, spacing_s=4.0, lead_s=1.0)
    assert len(mix) == int(6.0 * RATE) and abs(truth[0]["start"] - 1.0) < 0.05 and abs(truth[0]["end"] - 1.5) < 0.05
    loud = np.flatnonzero(np.abs(mix) > 0.1)
    assert abs(loud[0] / RATE - 1.0) < 0.01 and abs(loud[-1] / RATE - 1.5) < 0.01


def test_an_event_finds_one_word_of_its_label_within_the_late_allowance() -> None:
    truth = [{"label": "go", "start": 1.0, "end": 1.4}, {"label": "no", "start": 3.0, "end": 3.5}]
    assert streams.match([{"label": "go", "time": 1.3}, {"label": "no", "time": 3.5 + streams.LATE_S}], truth) == (2, 0)
    # a second event for the same word, a wrong label, an event before the word, one too late
    assert streams.match([{"label": "go", "time": 1.5}, {"label": "go", "time": 2.0}], truth) == (1, 1)
    assert streams.match([{"label": "no", "time": 1.5}], truth) == (0, 1)
    assert streams.match([{"label": "go", "time": 0.9}, {"label": "no", "time": 3.5 + streams.LATE_S + 0.01}], truth) == (0, 2)


def test_the_tuned_threshold_finds_the_most_commands_within_the_false_event_budget() -> None:
    def rows(*figures: tuple[float, int, int]) -> list[dict]:
        return [{"threshold": t, "commands": 12, "found": f, "false": x} for t, f, x in figures]

    # budget: 2 false events for 12 commands
    assert streams.choose(rows((0.5, 11, 5), (0.6, 10, 2), (0.7, 9, 1), (0.8, 7, 0)))["threshold"] == 0.6
    assert streams.choose(rows((0.5, 10, 2), (0.6, 10, 1), (0.7, 8, 0)))["threshold"] == 0.6  # a tie: fewer false
    assert streams.choose(rows((0.5, 10, 1), (0.6, 10, 1), (0.7, 8, 0)))["threshold"] == 0.6  # a full tie: the quieter
    assert streams.choose(rows((0.5, 11, 9), (0.6, 10, 6), (0.7, 9, 4)))["threshold"] == 0.7  # none within: fewest false


def test_tuning_keeps_the_negatives_within_their_budgets_per_hour_before_finding_more_commands() -> None:
    def row(threshold: float, hold: float, found: int, false: int, music: float, speech: float) -> dict:
        return {"threshold": threshold, "hold_ms": hold, "commands": 12, "found": found, "false": false,
                "per_hour": {"music": music, "speech": speech}}

    # music's budget is 1 an hour, speech's 5: the 0.5 row finds more but fires on music
    rows = [row(0.5, 0, 11, 1, 30.0, 4.0), row(0.7, 0, 10, 1, 1.0, 5.0), row(0.7, 200, 9, 0, 0.0, 2.0), row(0.9, 200, 6, 0, 0.0, 0.0)]
    assert (streams.choose(rows)["threshold"], streams.choose(rows)["hold_ms"]) == (0.7, 0)
    # none within the negatives' budgets: of the rows that keep the stream's budget and find
    # (nearly) the most commands, the nearest to them; never quietness bought with misses
    rows = [row(0.5, 0, 100, 1, 30.0, 40.0), row(0.5, 200, 99, 1, 6.0, 12.0), row(0.7, 0, 90, 1, 2.0, 6.0),
            row(0.9, 0, 100, 30, 0.0, 0.0)]
    for r in rows:
        r["commands"] = 100
    assert (streams.choose(rows)["threshold"], streams.choose(rows)["hold_ms"]) == (0.5, 200)
    assert streams.choose(rows[:1] + rows[2:3])["threshold"] == 0.5  # 0.7 would lose 10 of 100 commands
    assert streams.over_budget(rows[1]) == pytest.approx(6.0) and streams.over_budget({"found": 1}) == 0.0


def test_raising_single_labels_silences_the_words_negatives_fire_without_losing_commands(tmp_path: Path) -> None:
    """A talk recording fires `stop` at 0.6, `go` at 0.7 and `up` at 0.85, three times each, and
    `left` at 0.55 once; the stream's `stop` scores 0.95 and its `go` 0.72: `stop` and `up` are
    raised past their false events, `go` cannot be (it would lose the stream's go), `left` is
    not worth a raise (one event), and the decisions are the real Decider's on these scores."""
    recognizer = Recognizer(weights.shipped("speech"), threads=1)
    labels, rate, hop = recognizer.labels, recognizer.sample_rate, recognizer.hop

    def scored(seconds: float, peaks: list[tuple[float, str, float]]) -> Scored:
        ends = np.arange(rate, int(seconds * rate), hop)
        scores = np.zeros((len(ends), len(labels)), np.float32)
        scores[:, labels.index("_silence_")] = 1.0
        for at, label, value in peaks:
            i = np.searchsorted(ends, at * rate)
            scores[i, :] = 0.0
            scores[i, labels.index(label)], scores[i, labels.index("_unknown_")] = value, 1.0 - value
        return Scored(ends, scores, [], np.zeros(len(ends), np.float32))

    truth = [{"label": "stop", "start": 1.5, "end": 2.0}, {"label": "go", "start": 4.5, "end": 5.0}]
    stream = scored(8.0, [(2.2, "stop", 0.95), (5.2, "go", 0.72)])
    talk = scored(60.0, [(5.0 + 8 * k, "stop", 0.6) for k in range(3)] + [(30.0 + 8 * k, "go", 0.7) for k in range(3)]
                  + [(50.0 + 3 * k, "up", 0.85) for k in range(3)] + [(59.0, "left", 0.55)])
    scoring = streams.Scoring(recognizer, truth, stream, [Recording(tmp_path / "talk.wav", tmp_path, "speech", "_unknown_", 60.0)], [talk])
    grid = [streams.per_hour(scoring.row(t, 0.0)) for t in (0.5, 0.8)]
    assert [(r["found"], r["per_hour"]["speech"]) for r in grid] == [(2, 600.0), (1, 180.0)]
    best = streams.choose(grid)
    assert best["threshold"] == 0.5  # 0.8 is not quiet either, and loses the go

    steps = streams.raise_labels(scoring, best, grid, (0.65, 0.75, 0.8, 0.9))
    assert [s["thresholds"] for s in steps] == [{"stop": 0.65}, {"stop": 0.65, "up": 0.9}]
    assert (steps[-1]["found"], steps[-1]["events"]["speech"]) == (2, 4)
    # with the stream's go out of the way, go is raised too, and by the smallest step that silences it
    loud = scored(8.0, [(2.2, "stop", 0.95), (5.2, "go", 0.9)])
    scoring = streams.Scoring(recognizer, truth, loud, scoring.negatives, [talk])
    steps = streams.raise_labels(scoring, best, grid, (0.65, 0.75, 0.8, 0.9))
    assert [s["thresholds"] for s in steps] == [{"stop": 0.65}, {"stop": 0.65, "go": 0.75}, {"stop": 0.65, "go": 0.75, "up": 0.9}]
    assert (steps[-1]["found"], steps[-1]["events"]["speech"]) == (2, 1)  # the one `left`
    # decide with those thresholds over the weights' own is what listen --threshold stop=0.65 --threshold go=0.75 does
    assert [d.label for d in recognizer.decide(talk, 0.5, 0.0, {"stop": 0.65, "go": 0.75})] == ["up"] * 3 + ["left"]
    assert [d.label for d in recognizer.decide(talk, 0.5, 0.0, {"stop": 0.65})] == ["go"] * 3 + ["up"] * 3 + ["left"]
