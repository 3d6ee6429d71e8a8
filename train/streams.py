"""Continuous streams of real words, for measuring `livecmd listen` as users meet it.

Clip accuracy (`livecmd eval`) scores one centred second per word; a listener instead slides
windows over a stream in which words come at any offset, with noise between them. A stream here
is real 1-s clips laid one after another, `spacing_s` apart, over a real background recording at
a given speech-to-noise ratio, with each word's label and its start and end in the stream; the
events `listen --json` prints are then matched to those words. `examples/make_demo.py` builds
the demo clip with it; `benchmarks/stream_accuracy.py` and the speech recipe's threshold tuning
(`train/recipes/ship.py`) a longer stream of held-out speakers.
"""

from __future__ import annotations

import io
import json
import random
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from livecmd import audio
from livecmd.domains import SILENCE, SPEECH_COMMANDS, get_domain
from train.augment import word_span
from train.datasets import index
from train.datasets.speech_commands import speaker

LATE_S = 1.2
"""An event may come this long after its word ends: the 1-s window that decides it must first
have heard the whole word, then the smoothing adds a hop or two."""


def build(
    words: Sequence[tuple[str, Path]], noise: np.ndarray, rate: int, snr_db: float, spacing_s: float,
    lead_s: float = 1.0, tail_s: float = 1.0, source_root: Path | None = None,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The stream of `words` ((label, clip path) in order) and its truth: each word's speech
    starts `spacing_s` after the previous one's, the first at `lead_s`; `noise` (looped if
    short) is scaled to `snr_db` below the speech power measured over the words' spans; the mix
    peaks at 0.9. Truth rows: label, start, end (seconds), speaker, source (relative to
    `source_root` when given)."""
    length = int((lead_s + spacing_s * len(words) + tail_s) * rate)
    speech = np.zeros(length, dtype=np.float32)
    truth = []
    for i, (label, path) in enumerate(words):
        wave = audio.load(path, rate)
        start, end = word_span(wave)
        at = int((lead_s + spacing_s * i) * rate) - start
        if at < 0:  # the word comes later in its recording than the stream's lead: drop the head
            wave, start, end, at = wave[-at:], start + at, end + at, 0
        speech[at : at + len(wave)] += wave[: length - at]
        truth.append({
            "label": label,
            "start": round((at + start) / rate, 3),
            "end": round((at + end) / rate, 3),
            "speaker": speaker(path),
            "source": str(path.resolve().relative_to(source_root.resolve()) if source_root is not None else path),
        })
    noise = np.resize(noise, length) if len(noise) < length else noise[:length]
    spans = np.concatenate([speech[int(t["start"] * rate) : int(t["end"] * rate)] for t in truth])
    speech_rms = np.sqrt(np.mean(spans**2))
    mix = speech + noise * (speech_rms / (np.sqrt(np.mean(noise**2)) * 10 ** (snr_db / 20)))
    mix *= 0.9 / max(1e-9, np.abs(mix).max())
    return mix.astype(np.float32), truth


def match(events: Sequence[dict[str, Any]], truth: Sequence[dict[str, Any]], late_s: float = LATE_S) -> tuple[int, int]:
    """(words found, false events): an event finds a word of its label that starts before it
    and ends at most `late_s` before it; each word is found at most once, and an event that
    finds none is false."""
    found: set[int] = set()
    false = 0
    for event in events:
        hit = next(
            (i for i, w in enumerate(truth) if i not in found and w["label"] == event["label"]
             and w["start"] <= event["time"] <= w["end"] + late_s),
            None,
        )
        if hit is None:
            false += 1
        else:
            found.add(hit)
    return len(found), false


PART_A = "speech_commands_test_set_v0.02_part_a"
NOISE = "speech_commands_v0.01_sample/_background_noise_/doing_the_dishes.wav"  # real kitchen noise
DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo.json"


def tuning_stream(data: Path, snr_db: float = 20.0, seed: int = 0) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Every command and `_unknown_` word of part A's held-out speakers (`livecmd eval
    --split valid`'s) but the demo clip's (so that the demo stays an independent check of what
    is tuned here), shuffled with `seed`, 1.6 s apart over `NOISE` at `snr_db`: the demo clip's
    recipe at the length those speakers give. `data` is the folder of real audio (../shared/data)."""
    demo = {w["speaker"] for w in json.loads(DEMO.read_text())["words"]}
    part_a = data / PART_A
    clips = [c for c in index("speech", part_a).clips("valid") if c.labels[0] != SILENCE and speaker(c.path) not in demo]
    random.Random(seed).shuffle(clips)
    rate = get_domain("speech").sample_rate
    return build([(c.labels[0], c.path) for c in clips], audio.load(data / NOISE, rate), rate, snr_db, spacing_s=1.6,
                 source_root=data)


def detect(stream: Path, weights: Path, threshold: float, hold_ms: float | None = None) -> list[dict[str, Any]]:
    """The events of `livecmd listen --input STREAM --json --fast --weights W --threshold T
    [--hold-ms H]`, run in this process with the default settings otherwise."""
    from livecmd.stream.listen import ListenOptions, listen

    out = io.StringIO()
    listen(ListenOptions(input=stream, fast=True, json=True, weights=weights, thresholds=(str(threshold),), hold_ms=hold_ms),
           out=out, err=io.StringIO())
    return [json.loads(line) for line in out.getvalue().splitlines()]


FALSE_PER_COMMAND = 2 / 12
"""The false-event budget of threshold tuning: the project's demo target, at most 2 false events
for 12 commands."""


NEGATIVE_BUDGET_PER_HOUR = {"music": 1.0, "noise": 1.0, "speech": 5.0, "mix": 5.0}
"""False activations an hour that tuning allows on each kind of negative recording
(`train.recipes.negatives`): the always-on targets, music and noise as rare as an unspoken
command should be, speech without commands (a voice in the room) a little more often."""


def tune_threshold(mix: np.ndarray, truth: Sequence[dict[str, Any]], weights: Path,
                   candidates: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9), hold_ms: float | None = None) -> tuple[float, list[dict[str, Any]]]:
    """The threshold among `candidates` at which listen finds the most commands of the stream
    `mix` (16 kHz) while its false events stay within `FALSE_PER_COMMAND` (the fewer false
    events on a tie; the fewest false events when no candidate keeps the budget), and each
    candidate's figures."""
    commands = [t for t in truth if t["label"] in SPEECH_COMMANDS]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        stream = Path(tmp) / "stream.wav"
        sf.write(stream, mix, get_domain("speech").sample_rate, subtype="PCM_16")  # listen reads a file, as a user's would be
        for threshold in candidates:
            found, false = match(detect(stream, weights, threshold, hold_ms), commands)
            rows.append({"threshold": threshold, "commands": len(commands), "found": found, "false": false})
    return choose(rows)["threshold"], rows


def score_settings(mix: np.ndarray, truth: Sequence[dict[str, Any]], weights: Path, negatives: Sequence[Any],
                   thresholds: Sequence[float], holds: Sequence[float | None]) -> list[dict[str, Any]]:
    """One pass of the model over the command stream `mix` (written to a file, as a user's would
    be) and over `negatives` (`train.datasets.negatives.Recording`s: every event on them is
    false), decided at every pair of `thresholds` and `holds`: per pair a row {threshold,
    hold_ms, commands, found, false, kinds: {kind: {hours, events: [{time, label, score}]}}}."""
    commands = [t for t in truth if t["label"] in SPEECH_COMMANDS]
    with tempfile.TemporaryDirectory() as tmp:
        stream = Path(tmp) / "stream.wav"
        sf.write(stream, mix, get_domain("speech").sample_rate, subtype="PCM_16")
        on_stream, *on_negatives = false_activations([stream, *(r.path for r in negatives)], weights, thresholds, holds)
    kinds = sorted({r.kind for r in negatives})
    rows = []
    for setting in [(t, h) for h in holds for t in thresholds]:
        found, false = match(on_stream["events"][setting], commands)
        by_kind = {kind: {"hours": sum(s["seconds"] for r, s in zip(negatives, on_negatives) if r.kind == kind) / 3600,
                          "events": [e for r, s in zip(negatives, on_negatives) if r.kind == kind for e in s["events"][setting]]}
                   for kind in kinds}
        rows.append({"threshold": setting[0], "hold_ms": setting[1], "commands": len(commands), "found": found, "false": false,
                     "kinds": by_kind})
    return rows


def tune_operating_point(mix: np.ndarray, truth: Sequence[dict[str, Any]], weights: Path, negatives: Sequence[Any],
                         thresholds: Sequence[float], holds: Sequence[float]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The threshold and hold (`listen --threshold --hold-ms`) of `choose` over every pair of
    `thresholds` and `holds` (`score_settings`), and each pair's row {threshold, hold_ms,
    commands, found, false, per_hour: {kind: false activations an hour}}."""
    rows = []
    for row in score_settings(mix, truth, weights, negatives, thresholds, holds):
        kinds = row.pop("kinds")
        rows.append({**row, "per_hour": {kind: len(k["events"]) / k["hours"] for kind, k in kinds.items()}})
    return choose(rows), rows


def over_budget(row: dict[str, Any]) -> float:
    """How far a row's worst kind of negative goes past `NEGATIVE_BUDGET_PER_HOUR` (1 = at its
    budget; 0 when the row measured no negatives)."""
    per_hour = row.get("per_hour", {})
    return max((per_hour[kind] / budget for kind, budget in NEGATIVE_BUDGET_PER_HOUR.items() if kind in per_hour), default=0.0)


FOUND_SLACK = 0.03
"""The share of the stream's commands that tuning gives up, at most, to come nearer the
negatives' budgets when no setting keeps them: about the spread of commands found between two
training seeds of the same recipe (1 to 6 of 94), so that quietness is bought only with misses
within the noise of the measurement, never with a recognizer that finds fewer commands than
it could."""


def choose(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Of rows {commands, found, false[, per_hour]}: the most commands found while the stream's
    false events stay within `FALSE_PER_COMMAND` and the negatives within their budgets (the
    fewer false events on a tie); when no row keeps the negatives' budgets, the nearest to them
    of the rows that keep the stream's and find within `FOUND_SLACK` of the most commands found;
    when none keeps the stream's, the fewest false events."""
    within = [r for r in rows if r["false"] <= FALSE_PER_COMMAND * r["commands"]]
    quiet = [r for r in within if over_budget(r) <= 1.0]
    if quiet:
        return max(quiet, key=lambda r: (r["found"], -r["false"], -over_budget(r)))
    if within:
        most = max(r["found"] for r in within)
        near = [r for r in within if r["found"] >= most - FOUND_SLACK * r["commands"]]
        return min(near, key=lambda r: (over_budget(r), -r["found"], r["false"]))
    return min(rows, key=lambda r: (r["false"], over_budget(r), -r["found"]))


def score_clip(recognizer: Any, path: Path) -> Any:
    """`livecmd.Scored` of a whole clip as `livecmd listen --input CLIP --fast` scores it: the
    clip, then the silence that lets its last word be heard whole, from a fresh stream."""
    from livecmd.recognizer import Scored

    recognizer.reset()
    wave = audio.resample(audio.load(path), get_domain("speech").sample_rate, recognizer.sample_rate)
    parts = [recognizer.score(wave), recognizer.score(np.zeros(recognizer.end_silence(len(wave)), dtype=np.float32))]
    return Scored(np.concatenate([p.ends for p in parts]), np.concatenate([p.scores for p in parts]),
                  [d for p in parts for d in p.detections])


def false_activations(recordings: Sequence[Path], weights: Path, thresholds: Sequence[float],
                      holds: Sequence[float | None] = (None,)) -> list[dict[str, Any]]:
    """The events `livecmd listen --json --fast --threshold T --hold-ms H` gives on each of
    `recordings` (audio in which no command is said, so every event is a false activation) at
    each threshold T and hold H (None: the weights' own), from one pass of the model: rows
    {recording, seconds, events: {(T, H): [{time, label, score}]}}."""
    from livecmd.recognizer import Recognizer

    recognizer = Recognizer(weights, threads=1)
    rows = []
    for path in recordings:
        scored = score_clip(recognizer, path)
        events = {(t, h): [{"time": round(d.time, 3), "label": d.label, "score": round(d.score, 4)} for d in recognizer.decide(scored, t, h)]
                  for t in thresholds for h in holds}
        info = sf.info(path)
        rows.append({"recording": str(path), "seconds": info.frames / info.samplerate, "events": events})
    return rows
