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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from livecmd import audio
from livecmd.domains import QUIET_LABELS, SILENCE, SPEECH_COMMANDS, get_domain
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
    return over_noise(speech, truth, noise, rate, snr_db), truth


def over_noise(speech: np.ndarray, truth: Sequence[dict[str, Any]], noise: np.ndarray, rate: int, snr_db: float) -> np.ndarray:
    """`speech` with `noise` (looped if short) under it at `snr_db` below the speech power
    measured over the words' spans (`truth` rows' start and end, seconds), peaking at 0.9."""
    length = len(speech)
    noise = np.resize(noise, length) if len(noise) < length else noise[:length]
    spans = np.concatenate([speech[int(t["start"] * rate) : int(t["end"] * rate)] for t in truth])
    speech_rms = np.sqrt(np.mean(spans**2))
    mix = speech + noise * (speech_rms / (np.sqrt(np.mean(noise**2)) * 10 ** (snr_db / 20)))
    mix *= 0.9 / max(1e-9, np.abs(mix).max())
    return mix.astype(np.float32)


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


def detect(stream: Path, weights: Path, threshold: float | None = None, hold_ms: float | None = None,
           agc: bool = True) -> list[dict[str, Any]]:
    """The events of `livecmd listen --input STREAM --json --fast --weights W [--threshold T]
    [--hold-ms H] [--no-agc]` (None: the weights' own), run in this process with the default settings otherwise."""
    from livecmd.stream.listen import ListenOptions, listen

    out = io.StringIO()
    listen(ListenOptions(input=stream, fast=True, json=True, weights=weights, thresholds=() if threshold is None else (str(threshold),),
                         hold_ms=hold_ms, agc=agc), out=out, err=io.StringIO())
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


@dataclass(frozen=True)
class Scoring:
    """One pass of the model over a command stream and over negative recordings (audio in which
    no command is said: every event on them is false), to be decided at any threshold and hold
    afterwards (`livecmd.Recognizer.decide`: smoothing does not depend on them)."""

    recognizer: Any  # livecmd.Recognizer
    commands: list[dict[str, Any]]  # the stream's words that should fire (truth rows; not _unknown_)
    stream: Any  # livecmd.Scored of the stream
    negatives: Sequence[Any]  # train.datasets.negatives.Recording
    on_negatives: list[Any]  # livecmd.Scored of each

    def events(self, threshold: float | None, hold_ms: float | None, thresholds: Mapping[str, float] | None = None,
               max_utterance_ms: float | None = None) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
        """The events `listen --json --fast` prints at this setting (None: the weights' own) on
        the stream and on each negative recording."""
        def decided(scored: Any) -> list[dict[str, Any]]:
            return [{"time": round(d.time, 3), "label": d.label, "score": round(d.score, 4)}
                    for d in self.recognizer.decide(scored, threshold, hold_ms, thresholds, max_utterance_ms)]
        return decided(self.stream), [decided(s) for s in self.on_negatives]

    def row(self, threshold: float | None, hold_ms: float | None, thresholds: Mapping[str, float] | None = None,
            max_utterance_ms: float | None = None) -> dict[str, Any]:
        """{threshold, hold_ms[, thresholds][, max_utterance_ms], commands, found, false, kinds:
        {kind: {hours, events}}} at this setting."""
        on_stream, on_negatives = self.events(threshold, hold_ms, thresholds, max_utterance_ms)
        found, false = match(on_stream, self.commands)
        kinds: dict[str, dict[str, Any]] = {}
        for recording, events in sorted(zip(self.negatives, on_negatives), key=lambda pair: pair[0].kind):
            kind = kinds.setdefault(recording.kind, {"hours": 0.0, "events": []})
            kind["hours"] += recording.seconds / 3600
            kind["events"] += events
        return {"threshold": threshold, "hold_ms": hold_ms, **({"thresholds": dict(thresholds)} if thresholds else {}),
                **({"max_utterance_ms": max_utterance_ms} if max_utterance_ms is not None else {}),
                "commands": len(self.commands), "found": found, "false": false, "kinds": kinds}


def score(mix: np.ndarray, truth: Sequence[dict[str, Any]], weights: Path, negatives: Sequence[Any],
          peak_ms: float | None = None, only: str | None = None) -> Scoring:
    """The `Scoring` of the command stream `mix` (written to a file and scored as `listen
    --input` reads one) and of `negatives` (`train.datasets.negatives.Recording`s), to be decided
    with listen's `peak_ms` (None: the weights' own) and `only` (listen --only: the stream's other
    commands are then words that should not fire)."""
    from livecmd.recognizer import Recognizer

    recognizer = Recognizer(weights, threads=1, peak_ms=peak_ms, only=only)
    fires = [label for label in recognizer.labels if label not in QUIET_LABELS]
    with tempfile.TemporaryDirectory() as tmp:
        stream = Path(tmp) / "stream.wav"
        sf.write(stream, mix, get_domain("speech").sample_rate, subtype="PCM_16")
        on_stream = score_clip(recognizer, stream)
    return Scoring(recognizer, [t for t in truth if t["label"] in fires], on_stream, negatives,
                   [score_clip(recognizer, r.path) for r in negatives])


def per_hour(row: dict[str, Any]) -> dict[str, Any]:
    """A `Scoring.row` with its negatives' events counted per kind (`events`) and as false
    activations an hour (`per_hour`) instead of listed (`kinds`)."""
    kinds = row["kinds"]
    return {**{k: v for k, v in row.items() if k != "kinds"}, "events": {kind: len(k["events"]) for kind, k in kinds.items()},
            "per_hour": {kind: len(k["events"]) / k["hours"] for kind, k in kinds.items()}}


def tune_operating_point(mix: np.ndarray, truth: Sequence[dict[str, Any]], weights: Path, negatives: Sequence[Any],
                         thresholds: Sequence[float], holds: Sequence[float],
                         label_steps: Sequence[float] = (), false_per_command: float = FALSE_PER_COMMAND,
                         max_utterance_ms: float = 0.0, peak_ms: float | None = None,
                         ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """listen's operating point: the threshold and hold (`listen --threshold --hold-ms`) of
    `choose` (with the stream's budget `false_per_command`) over every pair of `thresholds` and
    `holds`, then, while the negatives are over their budgets, single labels' thresholds raised
    to one of `label_steps` (`raise_labels`). Returns the chosen row, the grid's rows and the
    raising's steps, each row {threshold, hold_ms[, thresholds], commands, found, false,
    per_hour: {kind: false activations an hour}}, all with listen's `max_utterance_ms` (0: any
    length) and `peak_ms` (None: the weights' own). The shipped model's recipe and `livecmd
    custom` both tune here."""
    scoring = score(mix, truth, weights, negatives, peak_ms)
    rows = [per_hour(scoring.row(t, h, None, max_utterance_ms)) for h in holds for t in thresholds]
    best = choose(rows, false_per_command)
    steps = raise_labels(scoring, best, rows, label_steps, false_per_command, max_utterance_ms) if label_steps else []
    return (steps[-1] if steps else best), rows, steps


MIN_SILENCED = 3
"""The fewest false activations on the tuning negatives that raising one label's threshold must
silence: one or two events are within the counting noise of a fraction of an hour, and a raise
for them costs commands elsewhere (a `down` that the tuning stream did not hold)."""


def raise_labels(scoring: Scoring, best: dict[str, Any], rows: Sequence[dict[str, Any]], label_steps: Sequence[float],
                 false_per_command: float = FALSE_PER_COMMAND, max_utterance_ms: float = 0.0) -> list[dict[str, Any]]:
    """Per-label thresholds above `best`'s (a row of the grid `rows`), raised one label at a time
    while the negatives are over their budgets: each step takes the label and threshold of
    `label_steps` that bring the worst kind of negative nearest its budget (then the sum over
    kinds, the most commands, the smallest raise), among those that keep the stream within `false_per_command`
    and find within `FOUND_SLACK` of the most commands any grid row found within it, and that
    silence at least `MIN_SILENCED` of the negatives' events. A word that music or talk sounds
    like (`go`, `up`) gets a higher threshold than one it rarely does, instead of every word
    paying for the worst. Returns the steps taken (rows; none when no step helps)."""
    within = [r for r in rows if r["false"] <= false_per_command * r["commands"]]
    floor = max((r["found"] for r in within), default=best["found"]) - FOUND_SLACK * best["commands"]
    fires = [label for label in scoring.recognizer.labels if label not in QUIET_LABELS]

    def badness(row: dict[str, Any]) -> tuple[float, float, int, float]:
        total = sum(row["per_hour"][k] / b for k, b in NEGATIVE_BUDGET_PER_HOUR.items() if k in row["per_hour"])
        return over_budget(row), total, -row["found"], sum(row.get("thresholds", {}).values())

    steps: list[dict[str, Any]] = []
    current, per_label = best, {}
    while over_budget(current) > 1.0:
        tried = [per_hour(scoring.row(best["threshold"], best["hold_ms"], {**per_label, label: step}, max_utterance_ms))
                 for label in fires for step in label_steps if step > per_label.get(label, best["threshold"])]
        kept = [r for r in tried if r["found"] >= floor and r["false"] <= false_per_command * r["commands"]]
        better = [r for r in kept if badness(r)[:2] < badness(current)[:2] and sum(current["events"].values()) - sum(r["events"].values()) >= MIN_SILENCED]
        if not better:
            break
        current = min(better, key=badness)
        per_label = current["thresholds"]
        steps.append(current)
    return steps


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


def choose(rows: Sequence[dict[str, Any]], false_per_command: float = FALSE_PER_COMMAND) -> dict[str, Any]:
    """Of rows {commands, found, false[, per_hour]}: the most commands found while the stream's
    false events stay within `false_per_command` and the negatives within their budgets (the
    fewer false events on a tie); when no row keeps the negatives' budgets, the nearest to them
    of the rows that keep the stream's and find within `FOUND_SLACK` of the most commands found;
    when none keeps the stream's, the fewest false events. On a full tie, the higher threshold
    and the longer hold: what the stream cannot tell apart, the quieter setting wins."""
    def quieter(r: dict[str, Any]) -> tuple[float, float]:
        return r["threshold"], r.get("hold_ms") or 0.0

    within = [r for r in rows if r["false"] <= false_per_command * r["commands"]]
    quiet = [r for r in within if over_budget(r) <= 1.0]
    if quiet:
        return max(quiet, key=lambda r: (r["found"], -r["false"], -over_budget(r), *quieter(r)))
    if within:
        most = max(r["found"] for r in within)
        near = [r for r in within if r["found"] >= most - FOUND_SLACK * r["commands"]]
        return max(near, key=lambda r: (-over_budget(r), r["found"], -r["false"], *quieter(r)))
    return max(rows, key=lambda r: (-r["false"], -over_budget(r), r["found"], *quieter(r)))


def score_clip(recognizer: Any, path: Path) -> Any:
    """`livecmd.Scored` of a whole clip as `livecmd listen --input CLIP --fast` scores it: the
    clip, then the silence that lets its last word be heard whole, from a fresh stream."""
    from livecmd.recognizer import Scored

    recognizer.reset()
    wave = audio.resample(audio.load(path), get_domain("speech").sample_rate, recognizer.sample_rate)
    parts = [recognizer.score(wave), recognizer.score(np.zeros(recognizer.end_silence(len(wave)), dtype=np.float32))]
    return Scored(np.concatenate([p.ends for p in parts]), np.concatenate([p.scores for p in parts]),
                  [d for p in parts for d in p.detections], np.concatenate([p.utterances for p in parts]))
