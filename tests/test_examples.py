"""The shipped speech model on the demo clip, the voice-control example, and the data recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from livecmd import weights
from livecmd.domains import SILENCE, SPEECH_COMMANDS, UNKNOWN
from tests.conftest import REPO, shared_data
from train import streams

EXAMPLES = REPO / "examples"
SHIPPED = REPO / "weights" / "speech-samplecnn.safetensors"
sys.path.insert(0, str(EXAMPLES))
import voice_control  # noqa: E402


def _listen_demo() -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "livecmd", "listen", "--input", str(EXAMPLES / "demo.wav"), "--json", "--fast"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_shipped_weights_load_as_the_default_with_the_twelve_labels() -> None:
    assert weights.shipped("speech") == SHIPPED
    meta = weights.load(SHIPPED).meta
    assert set(meta.labels) == set(SPEECH_COMMANDS) | {SILENCE, UNKNOWN}
    assert meta.domain == "speech" and meta.input_samples == 16_000


def test_demo_clip_commands_are_found_at_the_right_times() -> None:
    truth = [w for w in json.loads((EXAMPLES / "demo.json").read_text())["words"] if w["label"] in SPEECH_COMMANDS]
    found, false = streams.match(_listen_demo(), truth)
    assert found >= 0.8 * len(truth), f"found {found} of {len(truth)} commands"
    assert false <= 2


def test_held_out_part_a_accuracy_reproduces_the_model_card() -> None:
    part_a = shared_data("speech_commands_test_set_v0.02_part_a")
    result = subprocess.run(
        [sys.executable, "-m", "livecmd", "eval", "--domain", "speech", "--data", str(part_a),
         "--weights", str(SHIPPED), "--split", "valid", "--amp", "off", "--json"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    accuracy = json.loads(result.stdout.splitlines()[-1])["accuracy"]
    card_figure = weights.read_meta(SHIPPED).metrics["part_a_held_out_accuracy"]
    assert accuracy == pytest.approx(card_figure, abs=0.005)
    assert f"{100 * card_figure:.1f}%" in (REPO / "weights" / "speech-samplecnn.md").read_text()


def test_shipped_listen_threshold_is_the_one_tuning_picks_on_the_held_out_stream() -> None:
    """The recipe's tuning re-run on the stream of held-out speakers (not the demo's) at each
    candidate threshold and hold: its figures are the recorded ones, and the budgeted best of the
    recorded rows (with the negatives' false activations an hour, measured on the corpus's
    training part, which CI does not have) is what the weights carry."""
    data, _ = shared_data(streams.PART_A).parent, shared_data(streams.NOISE)
    tuned = weights.read_meta(SHIPPED).extra["listen"]
    recorded = tuned["tuning"]
    thresholds = sorted({r["threshold"] for r in recorded})
    holds = sorted({r.get("hold_ms", 0.0) for r in recorded})
    mix, truth = streams.tuning_stream(data)
    _, rows, _ = streams.tune_operating_point(mix, truth, SHIPPED, [], thresholds, holds, max_utterance_ms=tuned.get("max_utterance_ms", 0.0))
    key = lambda r: (r.get("hold_ms", 0.0), r["threshold"])  # noqa: E731
    for row, kept in zip(sorted(rows, key=key), sorted(recorded, key=key), strict=True):  # bf16 on another CPU may move a word or two
        assert key(row) == key(kept) and row["commands"] == kept["commands"]
        assert abs(row["found"] - kept["found"]) <= 2 and abs(row["false"] - kept["false"]) <= 2
    best = streams.choose(recorded)
    assert (best["threshold"], best.get("hold_ms", 0.0)) == (tuned["threshold"], tuned.get("hold_ms", 0.0))
    assert f"threshold {tuned['threshold']:g}" in (REPO / "weights" / "speech-samplecnn.md").read_text()


def test_the_shipped_wake_word_hears_real_people_say_it_by_name(tmp_path: Path) -> None:
    """weights/wake-smart-mirror.safetensors (synthetic voices only) behind `wake="smart mirror"`:
    the first 12 real recordings of the phrase by file name (never trained on), 1.5 s apart.
    Measured: 11 heard, and the phrase itself never let through as a command."""
    import livecmd
    from livecmd import audio

    recordings = sorted((shared_data("wake_words_real") / "smart_mirror").glob("*.flac"))[:12]
    gap = np.zeros(24_000, dtype=np.float32)
    clip = tmp_path / "smart-mirror.wav"
    sf.write(clip, np.concatenate([part for f in recordings for part in (audio.load(f, 16_000), gap)]), 16_000)
    events = list(livecmd.listen(clip, wake="smart mirror", device="cpu"))
    assert sum(d.wake for d in events) >= 9, events
    assert sum(not d.wake for d in events) <= 1, events


def test_voice_commands_move_the_marker_and_switch_the_light() -> None:
    world = voice_control.World()
    world = voice_control.command(world, "left", 1.0)
    assert (world.x, world.y, world.heading) == (3, 4, "left")
    world = voice_control.command(world, "go", 2.0)
    world = voice_control.command(world, "on", 4.5)  # 2.5 s of going: two whole cells left
    assert (world.x, world.light, world.moving) == (1, True, True)
    world = voice_control.command(world, "stop", 9.0)  # the grid's edge stops it at x = 0
    assert (world.x, world.moving) == (0, False)
    world = voice_control.command(world, "no", 12.0)
    assert (world.x, world.y, world.light) == (0, 4, True)
    world = voice_control.command(world, "off", 12.5)
    assert not world.light


def test_the_grid_is_nine_rows_and_a_status_line_with_the_marker_in_its_cell() -> None:
    world = voice_control.command(voice_control.World(), "left", 1.0)
    lines = voice_control.draw(world, "left").plain.splitlines()
    assert len(lines) == voice_control.SIZE + 1 and not lines[-1].startswith(" ")
    assert [row.split().index("●") if "●" in row else None for row in lines[:-1]] == [None] * 4 + [3] + [None] * 4
    assert "last: left" in lines[-1]


def test_voice_control_is_executable() -> None:
    assert os.access(EXAMPLES / "voice_control.py", os.X_OK)
    assert (EXAMPLES / "voice_control.py").read_text().startswith("#!/usr/bin/env python3\n")


def test_voice_control_demo_runs_on_the_clip_and_follows_listens_events() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "voice_control.py"), "--input", str(EXAMPLES / "demo.wav"), "--fast", "--plain"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    expected = voice_control.World()
    for event in _listen_demo():
        expected = voice_control.command(expected, event["label"], event["time"])
    heard = [line.split()[1] for line in lines]
    assert heard == [e["label"] for e in _listen_demo() if e["label"] in voice_control.COMMANDS]  # listened for alone:
    assert len(heard) >= 8 and "yes" in [e["label"] for e in _listen_demo()]  # the clip's `yes` is not among them
    assert f"x={expected.x} y={expected.y}" in lines[-1] and f"light={'on' if expected.light else 'off'}" in lines[-1]


def test_voice_control_demo_with_a_wake_word_moves_only_on_the_commands_after_it(tmp_path: Path) -> None:
    """Tone models stand in for the words: `left` on the low tone (the high one is its
    `_unknown_`), the wake word `hey` on the high tone."""
    from livecmd.domains import SILENCE, UNKNOWN
    from tests.tones import save_tone_model, stream, write_clip

    commands = save_tone_model(tmp_path / "commands.safetensors", "speech", ("left", UNKNOWN, SILENCE))
    wake = save_tone_model(tmp_path / "wake.safetensors", "speech", (UNKNOWN, "hey", SILENCE))
    clip = write_clip(tmp_path / "wake.wav", stream([(1.3, "low"), (3.2, "high"), (5.1, "low")], seconds=8.0))
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "voice_control.py"), "--input", str(clip), "--fast", "--plain",
         "--weights", str(commands), "--wake", str(wake)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = voice_control.World()
    assert [line.split()[1] for line in lines] == ["hey", "left"]  # the low tone before the wake word moves nothing
    assert f"x={start.x} y={start.y}" in lines[0] and f"x={start.x - 1} y={start.y}" in lines[1]


@pytest.mark.skipif(not Path("/usr/bin/espeak-ng").exists(), reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_synth_words_merge_into_a_folder_the_speech_indexer_trains_on(tmp_path: Path) -> None:
    from train.datasets import index
    from train.merge import merge

    synth = subprocess.run(
        [sys.executable, "-m", "livecmd", "synth", "--out", str(tmp_path / "synth"), "--words", "yes,bed",
         "--voices", "espeak-ng", "--per-voice", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert synth.returncode == 0, synth.stderr
    counts = merge(tmp_path / "merged", [tmp_path / "synth"]).counts
    ix = index("speech", tmp_path / "merged")
    clips = [c for split in ("train", "valid") for c in ix.clips(split)]
    assert counts["yes"] > 0 and counts[UNKNOWN] == counts["yes"]  # one take of each word per voice
    assert {c.labels[0] for c in clips} == {"yes", UNKNOWN}
    assert len(clips) == counts["yes"] + counts[UNKNOWN]
    assert all(c.path.name.startswith("bed_") for c in clips if c.labels == (UNKNOWN,))


def test_merge_caps_a_plentiful_word_with_the_draw_benchmarks_can_repeat(tmp_path: Path) -> None:
    from train.merge import merge, taken

    source = tmp_path / "extra"
    for word, n in (("left", 10), ("yes", 3), ("eight", 6)):
        (source / word).mkdir(parents=True)
        for k in range(n):
            sf.write(source / word / f"s{k}_nohash_0.wav", np.zeros(1600, np.float32), 16_000)
    counts = merge(tmp_path / "merged", [source], max_per_word=4).counts
    assert (counts["left"], counts["yes"], counts[UNKNOWN]) == (4, 3, 4)
    linked = {p.resolve() for p in (tmp_path / "merged" / "left").iterdir()}
    assert linked == {p.resolve() for p in taken(source / "left", 4)} and taken(source / "left", 4) == taken(source / "left", 4)
    assert {f"eight_{p.name}" for p in taken(source / "eight", 4)} == {p.name for p in (tmp_path / "merged" / UNKNOWN).iterdir()}
    assert len(taken(source / "yes", 4)) == 3 and len(taken(source / "left")) == 10


def test_merge_counts_what_it_links_and_the_clips_a_name_clash_leaves_out(tmp_path: Path) -> None:
    from train.merge import merge

    runs = [tmp_path / "synth-a", tmp_path / "synth-b"]  # two synth runs name their takes alike
    for k, run in enumerate(runs):
        for word in ("yes", "bed"):
            (run / word).mkdir(parents=True)
            sf.write(run / word / "s0_nohash_0.wav", np.full(1600, 0.1 * (k + 1), np.float32), 16_000)
    first = merge(tmp_path / "merged", runs)
    assert (first.counts["yes"], first.counts[UNKNOWN], first.clashes) == (1, 1, 2)
    assert (tmp_path / "merged" / "yes" / "s0_nohash_0.wav").resolve() == (runs[0] / "yes" / "s0_nohash_0.wav").resolve()
    again = merge(tmp_path / "merged", runs[:1])  # merging again links nothing twice
    assert (again.counts["yes"], again.counts[UNKNOWN], again.clashes) == (1, 1, 0)
