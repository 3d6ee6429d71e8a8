"""`livecmd listen` end to end on generated clips: the real CLI, the real model code, real files."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from livecmd import weights
from livecmd.cli import main
from livecmd.domains import DOMAINS
from livecmd.models import build_model
from livecmd.stream.engine import engine_hop
from livecmd.stream.listen import Latencies, ListenOptions, listen
from tests.tones import RATE, save_tone_model, stream, tone, write_clip

WORDS = [(1.3, "low"), (3.2, "high"), (5.1, "low"), (7.0, "high")]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tone weights and clips; the clip is written at 44.1 kHz stereo FLAC, so it is decoded,
    mixed and resampled on its way to the model."""
    root = tmp_path_factory.mktemp("listen")
    wave = stream(WORDS, seconds=9.0)
    wide = np.interp(np.arange(round(len(wave) * 44_100 / RATE)) * RATE / 44_100, np.arange(len(wave)), wave)
    return {
        "weights": save_tone_model(root / "tones.safetensors"),
        "clip": write_clip(root / "clip.flac", np.stack([wide, wide], axis=1), rate=44_100),
        "short": write_clip(root / "short.wav", stream([(1.2, "high")], seconds=2.6)),
        "root": root,
    }


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env["COLUMNS"] = "120"
    return env


def _livecmd(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "livecmd", *args], capture_output=True, text=True, timeout=timeout, env={**_env(), **env})


def _events(stdout: str) -> list[dict]:
    events = [json.loads(line) for line in stdout.splitlines()]
    assert all(set(e) - {"wake"} == {"time", "label", "score", "latency_ms"} and e.get("wake", True) for e in events), stdout
    return events


def _assert_words_heard(events: list[dict], words: list[tuple[float, str]]) -> None:
    assert [e["label"] for e in events] == [label for _, label in words]
    for event, (start, _) in zip(events, words):
        # the event is stamped with the end of the window that decided it: at most two 100 ms
        # hops after the word starts (the window grid, then the 3-window smoothing)
        assert start < event["time"] <= start + 0.21, (event, start)
        assert 0.5 <= event["score"] <= 1.0 and event["latency_ms"] > 0


def test_json_fast_prints_each_word_at_its_time_and_nothing_else(files: dict[str, Path]) -> None:
    result = _livecmd("listen", "--input", str(files["clip"]), "--weights", str(files["weights"]), "--json", "--fast", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    _assert_words_heard(_events(result.stdout), WORDS)
    summary = result.stderr.strip().splitlines()
    # 9 s of clip and a window less a hop of silence after it (so a last word is heard whole):
    # windows end every hop from 1.0 s on; the default (cached) engine's hop is 100 ms rounded
    # to its grid, 1,620 samples, so 88 windows, the last ending at 9.81 s (90 at an exact 100 ms)
    hop = engine_hop("cached", 1600, RATE, build_model("speech", "samplecnn").strides())
    windows = (9 * RATE - hop) // hop + 1
    assert (hop, windows) == (1620, 88)
    heard = (RATE + (windows - 1) * hop) / RATE
    assert len(summary) == 1 and summary[0].startswith(f"livecmd listen: {heard:.1f} s of audio, {windows} windows"), summary
    assert "cached" in summary[0]
    assert "4 detections" in summary[0] and "dropped 0.00 s" in summary[0] and "p99" in summary[0]


def test_peak_ms_waits_for_each_words_peak_and_hears_the_same_words(files: dict[str, Path]) -> None:
    result = _livecmd("listen", "--input", str(files["clip"]), "--weights", str(files["weights"]), "--json", "--fast", "--device", "cpu",
                      "--peak-ms", "100")
    assert result.returncode == 0, result.stderr
    events = _events(result.stdout)
    assert [e["label"] for e in events] == [label for _, label in WORDS]
    for event, (start, _) in zip(events, WORDS):
        # the 3-window smoothing rises for 3 hops after the word starts, then a hop without a rise
        assert start + 0.2 < event["time"] <= start + 0.55, (event, start)
    bad = _livecmd("listen", "--input", str(files["clip"]), "--weights", str(files["weights"]), "--peak-ms", "-1")
    assert bad.returncode == 2 and "--peak-ms" in bad.stderr and "Traceback" not in bad.stderr


def test_the_peak_wait_the_weights_carry_is_the_default_and_peak_ms_overrides_it(files: dict[str, Path]) -> None:
    def times(path: Path, *args: str) -> list[float]:
        result = _livecmd("listen", "--input", str(files["clip"]), "--weights", str(path), "--json", "--fast", "--device", "cpu", *args)
        assert result.returncode == 0, result.stderr
        events = _events(result.stdout)
        assert [e["label"] for e in events] == [label for _, label in WORDS]
        return [e["time"] for e in events]

    loaded = weights.load(files["weights"])
    peaked = weights.save(files["root"] / "peaked.safetensors", loaded.model, replace(loaded.meta, extra={"listen": {"peak_ms": 100}}))
    at_hold, at_peak = times(files["weights"]), times(files["weights"], "--peak-ms", "100")
    assert all(p > h for p, h in zip(at_peak, at_hold))  # the tones' scores rise for hops after they cross
    assert times(peaked) == at_peak and times(peaked, "--peak-ms", "0") == at_hold
    bad = weights.save(files["root"] / "bad-peak.safetensors", loaded.model, replace(loaded.meta, extra={"listen": {"peak_ms": "soon"}}))
    result = _livecmd("listen", "--input", str(files["short"]), "--weights", str(bad), "--json", "--fast")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and "--peak-ms" in result.stderr


def test_paced_input_takes_real_time_and_hears_the_same(files: dict[str, Path]) -> None:
    started = time.perf_counter()
    result = _livecmd("listen", "--input", str(files["short"]), "--weights", str(files["weights"]), "--json", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert time.perf_counter() - started >= 2.6  # the clip's length, at least
    _assert_words_heard(_events(result.stdout), [(1.2, "high")])


def test_duration_stops_early(files: dict[str, Path]) -> None:
    out = _CapturedLines()
    totals = listen(ListenOptions(input=files["clip"], fast=True, weights=files["weights"], device="cpu", json=True, duration=4.0), out=out, err=_CapturedLines())
    hop = engine_hop("cached", 1600, RATE, build_model("speech", "samplecnn").strides())  # the default engine's
    assert 4 * RATE - hop < totals.samples <= 4 * RATE  # the last whole hop within the 4 s
    assert [e["label"] for e in _events("".join(out.lines))] == ["low", "high"]


def test_a_clip_of_one_word_no_longer_than_a_window_is_heard(files: dict[str, Path]) -> None:
    clip = write_clip(files["root"] / "one-word.wav", stream([(0.5, "low")], seconds=0.95))
    out = _CapturedLines()
    listen(ListenOptions(input=clip, fast=True, weights=files["weights"], device="cpu", json=True), out=out, err=_CapturedLines())
    assert [e["label"] for e in _events("".join(out.lines))] == ["low"]


def _with_tuned_threshold(files: dict[str, Path], name: str, threshold: object) -> Path:
    loaded = weights.load(files["weights"])
    meta = replace(loaded.meta, extra={"listen": {"threshold": threshold}})
    return weights.save(files["root"] / name, loaded.model, meta)


def test_the_threshold_the_weights_were_tuned_for_is_the_default_and_threshold_overrides_it(files: dict[str, Path]) -> None:
    def events(path: Path, *args: str) -> list[dict]:
        out = _CapturedLines()
        listen(ListenOptions(input=files["clip"], fast=True, weights=path, device="cpu", json=True, thresholds=args), out=out, err=_CapturedLines())
        return _events("".join(out.lines))

    words = [label for _, label in WORDS]
    untuned = events(files["weights"])  # no tuned threshold in these weights: 0.5
    assert [e["label"] for e in untuned] == words and min(e["score"] for e in untuned) < 0.999
    strict = _with_tuned_threshold(files, "strict.safetensors", 0.999)
    tuned = events(strict)
    assert len(tuned) < len(words) and all(e["score"] >= 0.999 for e in tuned)  # the tuned threshold rules
    assert [e["label"] for e in events(strict, "0.5")] == words  # --threshold wins
    assert [e["label"] for e in events(_with_tuned_threshold(files, "loose.safetensors", 0.5))] == words


def test_weights_with_a_tuned_threshold_that_is_no_score_are_a_user_error(files, capsys, monkeypatch) -> None:
    bad = _with_tuned_threshold(files, "bad-threshold.safetensors", 7)
    line = _error(capsys, monkeypatch, "--input", str(files["short"]), "--weights", str(bad))
    assert "tuned threshold 7 is not a score in (0, 1]" in line and "--threshold" in line


def test_slow_speech_is_the_weights_own_setting_the_flags_override_it_and_a_bad_one_is_one_line(files, capsys, monkeypatch) -> None:
    """Weights that say `slow_speech` are heard with it: the same tone words from the clip (the
    windows wait for their faster hearing, the last made whole at the end), the live view names
    it, and --no-slow-speech turns it off; a setting that is not true or false is a user error."""
    loaded = weights.load(files["weights"])
    on = weights.save(files["root"] / "slow.safetensors", loaded.model, replace(loaded.meta, extra={"listen": {"slow_speech": True}}))

    def events(*args: str, **options) -> list[dict]:
        out = _CapturedLines()
        listen(ListenOptions(input=files["clip"], fast=True, weights=on, device="cpu", json=True, **options), out=out, err=_CapturedLines())
        return _events("".join(out.lines))

    heard = events()
    _assert_words_heard(heard, WORDS)
    assert [(e["label"], e["time"]) for e in events(slow_speech=False)] == [(e["label"], e["time"]) for e in heard]
    view = _livecmd("listen", "--input", str(files["short"]), "--weights", str(on), "--fast", "--device", "cpu")
    assert view.returncode == 0 and "slow speech heard too" in view.stdout, view.stderr
    off = _livecmd("listen", "--input", str(files["short"]), "--weights", str(on), "--fast", "--device", "cpu", "--no-slow-speech")
    assert off.returncode == 0 and "slow speech" not in off.stdout, off.stderr
    bad = weights.save(files["root"] / "bad-slow.safetensors", loaded.model, replace(loaded.meta, extra={"listen": {"slow_speech": "yes"}}))
    line = _error(capsys, monkeypatch, "--input", str(files["short"]), "--weights", str(bad))
    assert "slow_speech 'yes' is not true or false" in line and "--no-slow-speech" in line
    line = _error(capsys, monkeypatch, "--input", str(files["short"]), "--weights", str(on), "--hop-ms", "80")  # 1296 samples
    assert "slow speech needs a hop of a multiple of 5 samples: 1296 is not" in line and "--hop-ms 100" in line


def test_live_view_shows_scores_and_detections(files: dict[str, Path]) -> None:
    result = _livecmd("listen", "--input", str(files["short"]), "--weights", str(files["weights"]), "--fast", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    for field in ("input", "latency", "dropped", "detections, newest first", "high", "low", "_silence_", "tones.safetensors"):
        assert field in result.stdout, field
    # the detection row: the word starts at 1.2 s and is decided within two ~0.1 s hops
    rows = re.findall(r"(\d+\.\d\d)\s+high\s+(\d\.\d\d)", result.stdout)
    assert len(rows) == 2 and rows[0] == rows[1], result.stdout  # in the last frame, then in the run's list
    assert 1.2 < float(rows[0][0]) <= 1.2 + 0.21, result.stdout
    assert "every 101.25 ms" in result.stdout  # the default (cached) engine's hop, shown as it is


def test_scene_tag_weights_give_tag_events(files: dict[str, Path]) -> None:
    labels = DOMAINS["dcase"].labels  # the first two, "Train horn" and "Air horn, truck horn", detect the tones
    path = save_tone_model(files["root"] / "dcase-tones.safetensors", "dcase", labels)
    out = _CapturedLines()
    listen(ListenOptions(input=files["short"], fast=True, weights=path, device="cpu", json=True), out=out, err=_CapturedLines())
    events = _events("".join(out.lines))
    assert [e["label"] for e in events] == ["Air horn, truck horn"]
    assert 1.2 < events[0]["time"] <= 1.2 + 0.21 + 0.1  # windows of 1.23 s: the grid starts at 19_683


def test_only_picks_tags_of_a_tag_model_and_a_label_it_lacks_is_a_one_line_error(files: dict[str, Path]) -> None:
    labels = DOMAINS["dcase"].labels  # the first two detect the low and the high tone
    path = save_tone_model(files["root"] / "dcase-only.safetensors", "dcase", labels)
    for only, heard in [((labels[0],), []), ((labels[1], f"{labels[2]},{labels[3]}"), [labels[1]])]:
        out = _CapturedLines()
        listen(ListenOptions(input=files["short"], fast=True, weights=path, device="cpu", json=True, only=only), out=out, err=_CapturedLines())
        assert [e["label"] for e in _events("".join(out.lines))] == heard
    result = _livecmd("listen", "--input", str(files["short"]), "--json", "--fast", "--only", "yes,lights")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert "--only lights: the model has no label 'lights' that fires; give some of yes, no, up" in result.stderr


def test_a_wake_word_lets_through_only_the_commands_in_the_seconds_after_it(files: dict[str, Path]) -> None:
    """Two real tone models hear the same audio: the wake word's fires `hey` on the high tone
    (its low tone is `_unknown_`), the commands' fires `low` (its high tone is `_unknown_`). A
    low tone before the wake word, and one more than --wake-s after it, are not commands."""
    import livecmd
    from livecmd.domains import SILENCE, UNKNOWN

    wake = save_tone_model(files["root"] / "wake.safetensors", "speech", (UNKNOWN, "hey", SILENCE))
    commands = save_tone_model(files["root"] / "commands.safetensors", "speech", ("low", UNKNOWN, SILENCE))
    clip = write_clip(files["root"] / "wake.wav", stream([(1.3, "low"), (3.2, "high"), (5.1, "low"), (10.1, "low")], seconds=13.0))
    plain = _livecmd("listen", "--input", str(clip), "--weights", str(commands), "--json", "--fast", "--device", "cpu")
    assert [e["label"] for e in _events(plain.stdout)] == ["low", "low", "low"]
    gated = _livecmd("listen", "--input", str(clip), "--weights", str(commands), "--wake", str(wake), "--wake-s", "5",
                     "--json", "--fast", "--device", "cpu")
    assert gated.returncode == 0, gated.stderr
    events = _events(gated.stdout)
    assert [(e["label"], e.get("wake", False)) for e in events] == [("hey", True), ("low", False)]
    assert 3.2 < events[0]["time"] < events[1]["time"] - 1.0 and 5.1 < events[1]["time"] < 5.1 + 0.5
    assert "2 detections" in gated.stderr
    longer = [(d.label, d.wake) for d in livecmd.listen(clip, commands, wake=wake, wake_s=7.5, device="cpu")]
    assert longer == [("hey", True), ("low", False), ("low", False)]  # 10.1 s is within 7.5 s of the wake word
    tags = save_tone_model(files["root"] / "dcase-wake.safetensors", "dcase", DOMAINS["dcase"].labels)
    for args, message in [(("--wake", str(tags)), "are not the commands' (1 s at 16000 Hz"),
                          (("--wake", str(files["root"] / "none.safetensors")), "no such file"),
                          (("--wake", str(wake), "--wake-s", "0"), "--wake-s 0: give the seconds")]:
        result = _livecmd("listen", "--input", str(clip), "--weights", str(commands), "--json", "--fast", *args)
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr


def test_a_shipped_wake_word_is_given_by_its_name(files: dict[str, Path]) -> None:
    """weights/wake-NAME.safetensors is the wake word "NAME" (words joined by '-'): `--wake "hey
    there"` finds it in any case and spelling; a name that is neither a file nor shipped is a one-line
    error that lists the shipped ones."""
    from livecmd.domains import SILENCE, UNKNOWN

    shipped = files["root"] / "shipped"
    shipped.mkdir(exist_ok=True)
    save_tone_model(shipped / "wake-hey-there.safetensors", "speech", (UNKNOWN, "hey", SILENCE))
    commands = save_tone_model(files["root"] / "named-commands.safetensors", "speech", ("low", UNKNOWN, SILENCE))
    clip = write_clip(files["root"] / "named.wav", stream([(1.3, "low"), (3.2, "high"), (5.1, "low")], seconds=8.0))
    for name in ("hey there", "Hey_There"):
        result = _livecmd("listen", "--input", str(clip), "--weights", str(commands), "--wake", name, "--json", "--fast",
                          "--device", "cpu", LIVECMD_WEIGHTS_DIR=str(shipped))
        assert result.returncode == 0, result.stderr
        assert [(e["label"], e.get("wake", False)) for e in _events(result.stdout)] == [("hey", True), ("low", False)]
    result = _livecmd("listen", "--input", str(clip), "--weights", str(commands), "--wake", "hey mirror", "--json", "--fast",
                      LIVECMD_WEIGHTS_DIR=str(shipped))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert 'no such file, nor a shipped wake word ("hey there"); give one of those or the weights' in result.stderr


def test_the_gate_lets_through_the_commands_after_a_wake_word_not_before_it_even_when_handed_over_late(files: dict[str, Path]) -> None:
    from livecmd.domains import SILENCE, UNKNOWN
    from livecmd.recognizer import Recognizer
    from livecmd.stream.decide import Detection
    from livecmd.stream.gate import wake_gate

    commands = Recognizer(save_tone_model(files["root"] / "gate-commands.safetensors", "speech", ("low", UNKNOWN, SILENCE)), device="cpu")
    gate = wake_gate(save_tone_model(files["root"] / "gate-wake.safetensors", "speech", (UNKNOWN, "hey", SILENCE)), commands, open_s=2.0)

    def said(label: str, at: float) -> Detection:
        return Detection(label, at, 0.9, round(at * RATE))

    first = gate.let_through([said("hey", 3.0)], [said("low", 2.5), said("low", 3.5)])
    assert [(d.label, d.time, d.wake) for d in first] == [("hey", 3.0, True), ("low", 3.5, False)]
    late = gate.let_through([], [said("low", 2.9), said("low", 4.9), said("low", 5.1)])  # a pass later: 2.9 came before it
    assert [d.time for d in late] == [4.9]
    # the wake word's model still hearing itself at a command's window: the wake phrase heard as a command
    ends = np.array([round(7.3 * RATE), round(7.9 * RATE)])
    gate.remember(ends, np.array([[0.1, 0.8, 0.1], [0.9, 0.05, 0.05]], dtype=np.float32))
    heard = gate.let_through([said("hey", 7.0)], [said("low", 7.3), said("low", 7.9)])
    assert [(d.label, d.time) for d in heard] == [("hey", 7.0), ("low", 7.9)]


def test_behind_a_wake_word_the_commands_look_back_rule_is_off_unless_given(files: dict[str, Path]) -> None:
    """Commands whose weights take only words said alone (a 0.6-s look-back rule): a low tone
    50 ms after a soft 0.6-s 2-kHz tone (a sound neither model knows) ends a 1.05-s run of voice, so
    the rule holds its event back until the window has left that run (the tone model's score
    lingers, so it still fires, later). Behind the wake word (a command said in one breath
    with more words) the rule is off unless given."""
    from livecmd.domains import SILENCE, UNKNOWN

    wake = save_tone_model(files["root"] / "breath-wake.safetensors", "speech", (UNKNOWN, "hey", SILENCE))
    plain = save_tone_model(files["root"] / "breath-commands.safetensors", "speech", ("low", UNKNOWN, SILENCE))
    loaded = weights.load(plain)
    alone = weights.save(files["root"] / "alone.safetensors", loaded.model, replace(loaded.meta, extra={"listen": {"max_utterance_ms": 600}}))
    wave = stream([(0.8, "low"), (2.0, "high"), (3.65, "low")], seconds=7.0)
    wave[3 * RATE : 3 * RATE + round(0.6 * RATE)] += tone(2000.0, 0.6, amplitude=0.15)
    clip = write_clip(files["root"] / "breath.wav", wave)

    def low_times(*args: str) -> list[float]:
        result = _livecmd("listen", "--input", str(clip), "--weights", str(alone), "--json", "--fast", "--device", "cpu", *args)
        assert result.returncode == 0, result.stderr
        return [e["time"] for e in _events(result.stdout) if e["label"] == "low"]

    held, free = low_times()[1], low_times("--max-utterance-ms", "0")[1]
    assert held > free + 0.2  # the rule held the second low tone back
    assert low_times("--wake", str(wake)) == [free]
    assert low_times("--wake", str(wake), "--max-utterance-ms", "600") == [held]

def test_ctrl_c_stops_with_the_summary(files: dict[str, Path]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "livecmd", "listen", "--input", str(files["clip"]), "--weights", str(files["weights"]), "--json", "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )
    first = json.loads(process.stdout.readline())  # the first word is heard at 1.5 s of stream time
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert first["label"] == "low"
    assert process.returncode == 0
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("livecmd listen: ")
    assert float(stderr.split()[2]) < 9.0  # it stopped before the end of the clip


class _CapturedLines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> None:
        self.lines.append(text)

    def flush(self) -> None:
        pass


def _error(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """Run the real CLI entry point in-process; it must exit 2 with one line on stderr."""
    monkeypatch.setattr(sys, "argv", ["livecmd", "listen", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    captured = capsys.readouterr()
    assert exit_.value.code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livecmd: error: "), captured.err
    return lines[0]


def _unknown_model(root: Path) -> Path:
    meta = weights.WeightsMeta("vgg", "speech", ("a", "b"), RATE, RATE)
    return weights.save(root / "vgg.safetensors", build_model("speech", "samplecnn", n_labels=2), meta)


@pytest.mark.parametrize(
    "args,message",
    [
        (lambda f: ["--input", str(f["root"] / "missing.wav")], "missing.wav: it does not exist"),
        (lambda f: ["--input", str(f["weights"])], "cannot read audio"),
        (lambda f: ["--input", str(f["short"]), "--weights", str(f["root"] / "none.safetensors")], "none.safetensors does not exist"),
        (lambda f: ["--input", str(f["short"]), "--weights", str(f["short"])], "not a valid safetensors"),
        (lambda f: ["--input", str(f["short"]), "--weights", str(_unknown_model(f["root"]))], "architecture 'vgg'"),
        (lambda f: ["--input", str(f["short"]), "--weights", str(f["weights"]), "--hop-ms", "0"], "--hop-ms 0: give a positive hop"),
        (lambda f: ["--input", str(f["short"]), "--weights", str(f["weights"]), "--hop-ms", "1500"], r"window \(1000 ms\)"),
        (lambda f: ["--input", str(f["short"]), "--weights", str(f["weights"]), "--device", "tpu"], "unknown --device 'tpu'"),
        (lambda f: ["--input", str(f["short"]), "--weights", str(f["weights"]), "--threshold", "high=2"], r"\(0, 1\]"),
        (lambda f: ["--input", str(f["short"]), "--weights", str(f["weights"]), "--buffer-s", "1"], "window plus a hop"),
        (lambda f: ["--input", str(f["short"]), "--mic", "pulse"], "not both"),
        (lambda f: ["--input", str(f["short"]), "--mic-rate", "48000"], "resampled from its own rate"),
        (lambda f: ["--input", str(f["short"]), "--reconnect"], "a clip .--input. does not"),
        (lambda f: ["--fast"], "give the clip with --input"),
    ],
    ids=["missing-input", "unreadable-input", "missing-weights", "not-safetensors", "unknown-model",
         "zero-hop", "hop-longer-than-window", "unknown-device", "bad-threshold", "ring-too-small",
         "input-and-mic", "input-and-mic-rate", "input-and-reconnect", "fast-without-input"],
)
def test_each_user_error_is_one_line_and_exit_2(files, capsys, monkeypatch, args, message) -> None:
    assert re.search(message, _error(capsys, monkeypatch, *args(files)))


def test_no_shipped_weights_says_to_pass_weights(files, capsys, monkeypatch) -> None:
    monkeypatch.setattr(weights, "WEIGHTS_DIR", files["root"] / "empty")
    assert "--weights" in _error(capsys, monkeypatch, "--input", str(files["short"]))


def test_a_missing_input_is_one_line_from_the_real_process(files: dict[str, Path]) -> None:
    result = _livecmd("listen", "--input", str(files["root"] / "missing.wav"), "--weights", str(files["weights"]))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


_PROBE = """
import sys
from livecmd.cli import main
sys.argv = ["livecmd", "listen"] + sys.argv[1:]
try:
    main()
finally:
    print("torch imported:", "torch" in sys.modules, file=sys.stderr)
"""


def _microphone_probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=60, env=_env())


def test_an_unknown_mic_is_refused_before_torch_loads() -> None:
    result = _microphone_probe("--mic", "no-such-microphone-xyz")
    assert result.returncode == 2
    error, probe = result.stderr.strip().splitlines()
    assert error.startswith("livecmd: error: ")
    assert "unknown --mic 'no-such-microphone-xyz'" in error or "PortAudio" in error
    assert "--input FILE" in error
    assert probe == "torch imported: False"


def test_no_microphone_answers_at_once_and_points_to_input_and_list_devices() -> None:
    has_input = subprocess.run(
        [sys.executable, "-c", "import sounddevice as sd; sd.query_devices(kind='input')"], capture_output=True, env=_env()
    ).returncode == 0
    if has_input:
        pytest.skip("this machine has a default audio input, so `listen` would start listening")
    result = _microphone_probe()
    assert result.returncode == 2
    error, probe = result.stderr.strip().splitlines()
    assert ("no microphone found" in error and "--list-devices" in error) or "PortAudio" in error
    assert "--input FILE" in error
    assert probe == "torch imported: False"


_WITHOUT_PORTAUDIO = """
import ctypes.util, sys
find = ctypes.util.find_library  # as on a machine without libportaudio2: sounddevice finds no library
ctypes.util.find_library = lambda name: None if "portaudio" in name else find(name)
from livecmd.cli import main
sys.argv = ["livecmd", "listen"]
main()
"""


def test_missing_portaudio_says_how_to_install_it_or_use_input() -> None:
    result = subprocess.run([sys.executable, "-c", _WITHOUT_PORTAUDIO], capture_output=True, text=True, timeout=60, env=_env())
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "apt-get install libportaudio2" in result.stderr and "--input FILE" in result.stderr


def test_the_live_view_at_80_by_24_shows_a_detection_before_the_clip_ends(files: dict[str, Path]) -> None:
    """The real loop on a 2.6-s clip into a recording 80 × 24 terminal: the frame that first
    shows the word's detection was drawn at a stream time before the clip's end."""
    import io

    from rich.console import Console

    from livecmd import audio
    from livecmd.recognizer import Recognizer
    from livecmd.sinks import LiveView
    from livecmd.stream import listen as live

    console = Console(width=80, height=24, record=True, force_terminal=True, color_system=None, file=io.StringIO())
    rec = Recognizer(files["weights"], device="cpu")
    ring, source, heard = live.open_source(rec, audio.load(files["short"], RATE), None, realtime=True)
    view = LiveView(rec.labels, rec.thresholds, rec.describe(), f"{rec.engine_name}; input {heard}", console)
    live.run(ring, source, rec, [view])
    text = console.export_text()
    first = re.search(r"│\s+(1\.\d\d)\s+high\s+0\.\d\d", text)
    assert first is not None, text
    drawn_at = float(re.findall(r"stream (\d+\.\d) s", text[: first.start()])[-1])
    assert 1.2 < float(first.group(1)) <= drawn_at + 0.05 < 2.6  # on screen while the clip still plays (stream time to 0.1 s)
    frames = text.split("╭─ livecmd listen")[1:]  # the live frames, each redrawn over the last
    assert frames and all(len(line) <= 80 for frame in frames[:-1] for line in frame.splitlines()[1:-1])


def test_a_runs_latencies_take_fixed_memory_and_the_summary_agrees_with_every_window() -> None:
    """Listen left on for days: two million windows (2.3 days at 101.25 ms) of latencies, in
    batches as the loop adds them, take no more memory at the end than after the first tenth;
    the summary's p50 and p99 are within 1% of every window's, the live view's are the last
    thousand windows' own."""
    every = np.random.default_rng(0).lognormal(1.3, 0.5, 2_000_000)  # ms, around 3.7
    latencies = Latencies()
    tracemalloc.start()
    try:
        for i, batch in enumerate(np.split(every, 2_000)):
            latencies.add(batch)
            if i == 200:
                early = tracemalloc.get_traced_memory()[0]
        late = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert late - early < 10_000  # bytes
    p50, p99 = latencies.overall()
    assert p50 == pytest.approx(np.percentile(every, 50), rel=0.01) and p99 == pytest.approx(np.percentile(every, 99), rel=0.01)
    assert latencies.recent() == pytest.approx(tuple(np.percentile(every[-1_000:], [50, 99])))
    assert latencies.count == len(every) and latencies.most == every.max()
    assert Latencies().overall() is None and Latencies().recent() is None
