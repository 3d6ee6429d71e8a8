"""The Python API: `livecmd.Recognizer` and `livecmd.listen()`, on the real model code and real
clips, against what `livecmd listen` decides."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import livecmd
from livecmd import audio
from livecmd.domains import DOMAINS, SPEECH_COMMANDS, UNKNOWN
from livecmd.errors import LivecmdError
from livecmd.stream import listen as live
from livecmd.stream.ring import Ring
from tests.conftest import REPO
from tests.tones import RATE, save_tone_model, stream, write_clip

DEMO = REPO / "examples" / "demo.wav"
WORDS = [(1.3, "low"), (3.2, "high"), (5.1, "low"), (7.0, "high")]


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tone_model(tmp_path_factory.mktemp("recognizer") / "tones.safetensors")


def _fed(rec: livecmd.Recognizer, wave: np.ndarray, sizes: list[int]) -> list[livecmd.Detection]:
    """`wave` fed in chunks of the given sizes, in turn, then the end of the stream."""
    found, at, i = [], 0, 0
    while at < len(wave):
        found += rec.feed(wave[at : at + sizes[i % len(sizes)]])
        at += sizes[i % len(sizes)]
        i += 1
    return found + rec.flush()


def test_the_demo_fed_in_1600_sample_chunks_gives_listens_detections() -> None:
    result = subprocess.run([sys.executable, "-m", "livecmd", "listen", "--input", str(DEMO), "--json", "--fast"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    cli = [(e["label"], e["time"]) for e in map(json.loads, result.stdout.splitlines())]
    rec = livecmd.Recognizer()  # the shipped speech model, the engine and threshold listen picks
    assert rec.sample_rate == 16_000 and rec.labels == rec.meta.labels
    found = _fed(rec, audio.load(DEMO, rec.sample_rate), [1600])
    assert [(d.label, round(d.time, 3)) for d in found] == cli
    assert len(cli) >= 8 and {label for label, _ in cli} <= set(SPEECH_COMMANDS)


def test_chunk_sizes_do_not_change_the_detections_and_reset_starts_stream_time_again(tones: Path) -> None:
    wave = stream(WORDS, seconds=9.0)
    rec = livecmd.Recognizer(tones, device="cpu")
    whole = _fed(rec, wave, [len(wave)])
    assert [d.label for d in whole] == ["low", "high", "low", "high"]
    for start, d in zip([w[0] for w in WORDS], whole):
        assert start < d.time <= start + 0.21 and d.end == round(d.time * RATE) and 0.5 <= d.score <= 1.0
    rec.reset()
    assert rec.position == 0
    assert _fed(rec, wave, [1, 37, 1600, 5000, 20_000]) == whole


def test_feeding_less_than_a_window_scores_nothing_and_its_scores_stay_at_zero(tones: Path) -> None:
    rec = livecmd.Recognizer(tones, device="cpu")
    assert rec.feed(np.zeros(RATE - 1, dtype=np.float32)) == [] and not rec.scores.any()
    assert rec.score(np.zeros(1, dtype=np.float32)).ends.tolist() == [RATE]
    assert rec.scores.argmax() == rec.labels.index("_silence_")


def test_a_given_threshold_overrides_the_weights_and_bad_settings_are_one_line_errors(tones: Path) -> None:
    wave = stream(WORDS, seconds=9.0)
    strict = livecmd.Recognizer(tones, device="cpu", thresholds={"high": 0.999})
    assert strict.thresholds == (0.5, 0.999, 0.5)
    found = _fed(strict, wave, [4000])
    assert [d.label for d in found if d.label == "low"] == ["low", "low"]
    assert len(found) < len(WORDS) and all(d.score >= 0.999 for d in found if d.label == "high")
    for options, message in [({"hop_ms": 0}, "positive hop"), ({"hop_ms": 1500}, r"window \(1000 ms\)"),
                             ({"threshold": 2.0}, r"\(0, 1\]"), ({"thresholds": {"maybe": 0.5}}, "no label 'maybe'"),
                             ({"smooth_ms": -1}, "0 .no smoothing. or more"), ({"engine": "onnx"}, "unknown")]:
        with pytest.raises(LivecmdError, match=message):
            livecmd.Recognizer(tones, device="cpu", **options)
    with pytest.raises(LivecmdError, match="mono"):
        livecmd.Recognizer(tones, device="cpu").feed(np.zeros((100, 2), dtype=np.float32))


def test_audio_is_fed_as_its_source_gives_it_int16_one_channel_blocks_and_a_nan_included(tones: Path) -> None:
    """Audio callbacks and sockets hand over int16 PCM, sounddevice a (frames, 1) block for a
    mono stream, and a driver may send one NaN: each gives the float stream's detections (the
    int16 stream once heard nothing, a NaN silenced the rest of the stream)."""
    wave = stream(WORDS, seconds=9.0)
    expected = [(d.label, d.time) for d in _fed(livecmd.Recognizer(tones, device="cpu"), wave, [1600])]
    assert [label for label, _ in expected] == ["low", "high", "low", "high"]
    pcm = np.round(wave * 32767).astype(np.int16)
    glitch = wave.copy()
    glitch[[100, 30_000]] = [np.nan, np.inf]
    for fed in (pcm, pcm[:, None], wave.astype(np.float64)[:, None], glitch):
        rec = livecmd.Recognizer(tones, device="cpu")
        assert [(d.label, d.time) for d in _fed(rec, fed, [1600])] == expected
        assert np.isfinite(rec.scores).all()
    rec = livecmd.Recognizer(tones, device="cpu")
    for wrong, message in [(pcm.tobytes(), r"not bytes; raw 16-bit PCM bytes: np\.frombuffer\(data, np\.int16\)"),
                           (pcm.astype(np.float32), rf"not up to {np.abs(pcm).max()}: integer PCM turned into floats must be divided"),
                           (np.array(["a"]), "not <U1 data")]:
        with pytest.raises(LivecmdError, match=message):
            rec.feed(wrong)
    assert rec.position == 0  # nothing of a refused chunk was taken


def test_audio_at_another_rate_is_resampled_as_it_streams_behind_a_wake_word_too(tmp_path: Path) -> None:
    """48-kHz int16 chunks (a sound card's, a browser's) with `input_rate=48000` give the 16-kHz
    stream's detections at the same stream times, behind a wake word as well (its own model hears
    the same audio, resampled once)."""
    commands = save_tone_model(tmp_path / "commands.safetensors", "speech", ("low", UNKNOWN, "_silence_"))
    wake = save_tone_model(tmp_path / "wake.safetensors", "speech", (UNKNOWN, "hey", "_silence_"))
    wave = stream(WORDS, seconds=9.0)
    fast = np.round(audio.resample(wave, RATE, 48_000) * 32767).astype(np.int16)

    def heard(fed: np.ndarray, chunk: int, **options: int) -> list[tuple[str, float, bool]]:
        rec = livecmd.Recognizer(commands, device="cpu", wake=wake, wake_s=2.0, **options)
        return [(d.label, d.time, d.wake) for d in _fed(rec, fed, [chunk])]

    expected = heard(wave, 1600)
    assert [(label, wake) for label, _, wake in expected] == [("hey", True), ("low", False), ("hey", True)]
    resampled = heard(fast, 4800, input_rate=48_000)
    assert [(label, wake) for label, _, wake in resampled] == [(label, wake) for label, _, wake in expected]
    assert np.allclose([t for _, t, _ in resampled], [t for _, t, _ in expected], atol=0.011)  # a 10-ms frame at most
    with pytest.raises(LivecmdError, match="give the rate of the audio fed in Hz, e.g. 48000"):
        livecmd.Recognizer(commands, device="cpu", input_rate=0)
    with pytest.raises(LivecmdError, match="listen resamples a clip or a microphone itself"):
        next(livecmd.listen(write_clip(tmp_path / "words.wav", wave), commands, input_rate=48_000))


def test_a_recognizer_behind_a_wake_word_gives_listens_events_and_flush_and_reset_keep_the_gate(tmp_path: Path) -> None:
    """`Recognizer(wake=...)` is listen --wake for a program's own audio: the same events as
    `livecmd.listen(clip, wake=...)`; a command that only the stream's end lets be heard
    (`flush`) goes through the gate too, and a `reset` stream starts with the gate shut."""
    commands = save_tone_model(tmp_path / "commands.safetensors", "speech", ("low", UNKNOWN, "_silence_"))
    wake = save_tone_model(tmp_path / "wake.safetensors", "speech", (UNKNOWN, "hey", "_silence_"))
    wave = stream([(0.5, "low"), (1.8, "high"), (3.4, "low")], seconds=4.5)
    rec = livecmd.Recognizer(commands, device="cpu", wake=wake)
    assert "commands only 5 s after the wake word hey (wake.safetensors" in rec.describe()
    fed = _fed(rec, wave, [1600])
    assert [(d.label, d.wake) for d in fed] == [("hey", True), ("low", False)]
    assert fed == list(livecmd.listen(write_clip(tmp_path / "gated.wav", wave), commands, device="cpu", wake=wake))
    late = stream([(3.8, "low")], seconds=3.9, word_s=0.1)  # a short low tone at the stream's very end: heard in the flush
    plain = livecmd.Recognizer(commands, device="cpu")
    assert plain.feed(late) == [] and [d.label for d in plain.flush()] == ["low"]
    rec.reset()  # the last stream opened the gate at 1.8 s: this one starts shut, to its end
    assert rec.feed(late) == [] and rec.flush() == []
    with pytest.raises(LivecmdError, match="no such file, nor a shipped wake word"):
        livecmd.Recognizer(commands, device="cpu", wake="hey there")


def test_a_wake_word_heard_with_slow_speech_keeps_the_wake_phrase_out_of_the_commands_in_small_chunks(tmp_path: Path) -> None:
    """`livecmd custom`'s wake words hear with slow speech, so their model scores a window up to
    38 ms of audio after the commands' model: fed 10 ms at a time (a microphone's blocks), a
    command waits for the wake word's score of its window. The wake tone, which the commands'
    model hears as `up`, stays out as it does without slow speech; the command after it passes;
    and the end of the stream is heard by both."""
    from dataclasses import replace

    from livecmd import weights

    commands = save_tone_model(tmp_path / "commands.safetensors", "speech", ("low", "up", "_silence_"))
    plain = save_tone_model(tmp_path / "wake.safetensors", "speech", (UNKNOWN, "hey", "_silence_"))
    loaded = weights.load(plain)
    slow = weights.save(tmp_path / "slow-wake.safetensors", loaded.model, replace(loaded.meta, extra={"listen": {"slow_speech": True}}))
    wave = stream([(0.5, "high"), (2.5, "low"), (4.0, "high"), (5.6, "low")], seconds=6.1)
    alone = [d.label for d in _fed(livecmd.Recognizer(commands, device="cpu"), wave, [1600])]
    assert alone == ["up", "low", "up", "low"]  # the wake tone is a command to the commands' model
    for wake in (plain, slow):
        for chunk in (160, 1600, len(wave)):
            rec = livecmd.Recognizer(commands, device="cpu", wake=wake)
            assert (rec.gate.recognizer.slow_speech is not None) == (wake == slow)
            heard = [(d.label, d.wake) for d in _fed(rec, wave, [chunk])]
            assert heard == [("hey", True), ("low", False), ("hey", True), ("low", False)], (wake.name, chunk)
        clip = write_clip(tmp_path / f"{wake.stem}.wav", wave)  # listen, a window a pass: a slow wake word's events come a pass late
        assert [(d.label, d.wake) for d in livecmd.listen(clip, commands, device="cpu", wake=wake, max_batch=1)] == heard
    late = np.concatenate([stream([(0.5, "high")], seconds=2.0), stream([(0.9, "low")], seconds=1.0, word_s=0.1)])
    rec = livecmd.Recognizer(commands, device="cpu", wake=slow)  # the last command needs the flush: both models hear it
    assert [(d.label, d.wake) for d in rec.feed(late)] == [("hey", True)]
    assert [(d.label, d.wake) for d in rec.flush()] == [("low", False)]
    behind = rec.gate.recognizer.end_silence(len(late))  # the flush reaches the wake word's model's last window too
    assert rec.end_silence(len(late)) == behind == livecmd.Recognizer(commands, device="cpu").end_silence(len(late)) + rec.gate.recognizer.slow_speech.lag


def test_the_wake_word_s_model_takes_the_commands_shared_settings(tmp_path: Path) -> None:
    """What `gate.SHARED_SETTINGS` names (hop, smoothing, gain control, ...) is the commands'
    for the wake word's model too, so both hear the stream window for window."""
    commands = save_tone_model(tmp_path / "commands.safetensors", "speech", ("low", UNKNOWN, "_silence_"))
    wake = save_tone_model(tmp_path / "wake.safetensors", "speech", (UNKNOWN, "hey", "_silence_"))
    rec = livecmd.Recognizer(commands, device="cpu", wake=wake, hop_ms=50, smooth_ms=500, agc=False, max_batch=3)
    heard = rec.gate.recognizer
    assert (heard.hop, heard._settings.smooth_windows, heard._level, heard._max_batch) == (rec.hop, 10, None, 3)
    assert 790 <= rec.hop <= 810  # 50 ms, as the engine rounds it (100 ms by default)


def test_integer_pcm_is_scaled_from_its_full_scale() -> None:
    assert audio.samples(np.array([-32768, 0, 16384], np.int16)).tolist() == [-1.0, 0.0, 0.5]
    assert audio.samples(np.array([0, 128, 255], np.uint8)).tolist() == [-1.0, 0.0, 127 / 128]
    assert audio.samples(np.array([2**30], np.int32)).tolist() == [0.5]
    assert audio.samples([0.25, 2.0, -np.inf]).tolist() == [0.25, 1.0, 0.0]  # past full scale clipped, inf zeroed


def test_a_31_class_model_fires_commands_only_its_filler_words_count_as_unknown(tmp_path: Path) -> None:
    """A model trained on the release's 30 words and `_silence_` (no `_unknown_` output): here
    the tone model with `yes` on the low tone and `bed` on the high one, a real forward."""
    labels = ("yes", "bed") + tuple(label for label in DOMAINS["speech"].labels if label not in ("yes", "bed"))
    path = save_tone_model(tmp_path / "release.safetensors", "speech", labels)
    rec = livecmd.Recognizer(path, device="cpu")
    assert rec.labels == DOMAINS["speech"].test_labels and len(rec.meta.labels) == 31
    found = _fed(rec, stream(WORDS, seconds=9.0), [1600])
    assert [d.label for d in found] == ["yes", "yes"]  # the two low tones; `bed` (high) never fires
    scores = rec.score(stream([(0.2, "high")], seconds=1.0)).scores
    assert scores[:, rec.labels.index(UNKNOWN)].max() > 0.9  # bed's score went to _unknown_
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)  # still a distribution


def test_only_listens_for_the_labels_named_and_the_others_scores_count_as_unknown(tmp_path: Path) -> None:
    """A tone model with `_unknown_`, as the shipped one has: listening for `low` only, the high
    tones never fire, their score goes to `_unknown_` (still a distribution), and the low tones
    fire where the full vocabulary fires them."""
    path = save_tone_model(tmp_path / "four.safetensors", "speech", ("low", "high", "_silence_", UNKNOWN))
    wave = stream(WORDS, seconds=9.0)
    full = livecmd.Recognizer(path, device="cpu")
    low = livecmd.Recognizer(path, device="cpu", only="low")
    assert low.labels == ("low", "_silence_", UNKNOWN) and "listening for low only" in low.describe()
    assert livecmd.Recognizer(path, device="cpu", only=["high"]).labels == ("high", "_silence_", UNKNOWN)
    everything = _fed(full, wave, [1600])
    assert [d.label for d in everything] == ["low", "high", "low", "high"]
    assert [(d.label, d.time) for d in _fed(low, wave, [1600])] == [(d.label, d.time) for d in everything if d.label == "low"]
    high = stream([(0.2, "high")], seconds=1.0)
    full.reset()
    low.reset()
    all_scores, low_scores = full.score(high).scores, low.score(high).scores
    np.testing.assert_allclose(low_scores[:, 2], all_scores[:, 1] + all_scores[:, 3], atol=1e-5)  # high's went to _unknown_
    assert low_scores[:, 2].max() > 0.9
    np.testing.assert_allclose(low_scores.sum(axis=1), 1.0, atol=1e-5)
    for only, message in [("bed", "no label 'bed' that fires; give some of low, high"), (UNKNOWN, f"no label '{UNKNOWN}'"),
                          (" , ", "name the labels to listen for")]:
        with pytest.raises(LivecmdError, match=message):
            livecmd.Recognizer(path, device="cpu", only=only)
    with pytest.raises(LivecmdError, match="needs a model with an _unknown_ output"):
        livecmd.Recognizer(save_tone_model(tmp_path / "three.safetensors"), device="cpu", only="low")


def test_listen_yields_the_detections_of_a_clip(tones: Path, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "words.wav", stream(WORDS, seconds=9.0))
    found = list(livecmd.listen(clip, tones, device="cpu"))
    assert [d.label for d in found] == ["low", "high", "low", "high"]
    assert found == _fed(livecmd.Recognizer(tones, device="cpu"), audio.load(clip, RATE), [3000])
    with pytest.raises(LivecmdError, match="not both"):
        next(livecmd.listen(clip, tones, mic="0"))
    with pytest.raises(LivecmdError, match="a clip .input. does not"):
        next(livecmd.listen(clip, tones, reconnect=True))


class _Flood:
    """A source that writes its wave into the ring as fast as it can, never waiting for the
    reader: a microphone beside a reader that has fallen far behind."""

    name, failure, lost = "flood", None, None

    def __init__(self, ring: Ring, wave: np.ndarray, block: int):
        self.ring, self.wave, self.block = ring, wave, block
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        for at in range(0, len(self.wave), self.block):
            self.ring.write(self.wave[at : at + self.block])
            time.sleep(0.002)  # ~100 times real time: the ring wraps several times per batch scored
        self.ring.close()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._thread.join()


def test_a_late_reader_at_the_smallest_ring_reads_only_whole_windows_of_the_stream(tones: Path) -> None:
    """The ring holds one window and one hop; the writer runs far ahead of a slow engine, so the
    ring wraps between the reader's looks. Every window scored must be the stream's own samples
    at its end (never torn, never empty), and the audio given up is counted."""
    # no gain control: each window must hold the stream's own samples (tests/test_level.py gains them)
    rec = livecmd.Recognizer(tones, device="cpu", engine="folded", hop_ms=100, max_batch=4, agc=False)
    wave = np.arange(40 * RATE, dtype=np.float32) / (40 * RATE)  # each sample says where it is
    ring = Ring(rec.window_samples + rec.hop)
    windows: list[np.ndarray] = []
    engine = rec.engine

    def slow(batch: np.ndarray) -> np.ndarray:
        windows.extend(batch.copy())
        threading.Event().wait(0.01)
        return engine(batch)

    rec.engine = slow  # type: ignore[assignment]
    rec.engine.max_batch = engine.max_batch  # type: ignore[attr-defined]
    ends = []
    real_score = rec.score

    def score(samples: np.ndarray):
        scored = real_score(samples)
        ends.extend(scored.ends.tolist())
        return scored

    rec.score = score  # type: ignore[method-assign]
    totals = live.Totals(RATE, 0.0)
    list(live.steps(ring, _Flood(ring, wave, 3_000), rec, totals))
    assert len(ends) == len(windows) > 0 and totals.dropped > 0
    assert all((end - rec.window_samples) % rec.hop == 0 for end in ends)  # on the window grid
    for end, window in zip(ends, windows):
        np.testing.assert_array_equal(window, wave[end - rec.window_samples : end])


def _model_scores(model, windows: list[np.ndarray]) -> np.ndarray:
    import torch

    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(np.stack(windows))), dim=1).numpy()


def test_slow_speech_takes_each_label_s_higher_score_from_the_window_heard_faster_after_a_gap_too() -> None:
    """Each window's scores against the model's own: the window, and (where that scores a label
    over the gate) the 1.25 s ending with it resampled to 1 s, across a gap of a length that
    moves the faster hearing's start (not a multiple of 5 samples), fed in odd chunks."""
    import soxr

    from livecmd import weights
    from livecmd.stream.slow_speech import GATE

    wave = audio.load(DEMO)[: 9 * RATE]
    before, gap, after = wave[: 4 * RATE], 1234, wave[4 * RATE + 1234 :]
    rec = livecmd.Recognizer(engine="folded", precision="fp32", smooth_ms=0, agc=False, slow_speech=True, max_batch=4)
    assert rec.slow_speech is not None and "slow speech heard too" in rec.describe()
    plain = livecmd.Recognizer(engine="folded", precision="fp32", smooth_ms=0, agc=False, slow_speech=False)
    assert plain.slow_speech is None  # the shipped model's own setting: off
    got = [rec.score(part) for part in (before[:7001], before[7001:])]
    rec.skip(gap)
    got += [rec.score(after[at : at + 3333]) for at in range(0, len(after), 3333)]
    ends = np.concatenate([g.ends for g in got])
    scores = np.concatenate([g.scores for g in got])
    model = weights.load(weights.shipped("speech")).model
    stream = np.full(len(wave), np.nan, dtype=np.float32)  # stream time: the gap unknown
    stream[: len(before)], stream[len(before) + gap :] = before, after
    expected, heard_faster = [], 0
    for end in ends.tolist():
        own = _model_scores(model, [stream[end - RATE : end]])[0]
        origin = 0 if end <= len(before) else len(before) + gap + (-(len(before) + gap)) % 5
        segment = stream[origin:len(before)] if origin == 0 else stream[origin:]
        if end - origin >= 20_000:
            fast_end = (end - origin) * 4 // 5
            fast = _model_scores(model, [soxr.resample(segment, RATE, 12_800)[fast_end - RATE : fast_end]])[0]
            heard_faster += bool(((own > GATE) & (fast > own)).any())
            own = np.where(own > GATE, np.maximum(own, fast), own)
        expected.append(own)
    assert heard_faster >= 5  # the faster hearing raised some window's score
    np.testing.assert_allclose(scores, np.array(expected), atol=2e-4)
    # The same windows as without slow speech, but for the one that ends where the gap starts
    # (its faster hearing needed the samples the gap took): the last waits for its faster
    # hearing, and the silence a flush feeds makes it whole.
    plain_ends = [plain.score(before).ends]
    plain.skip(gap)
    plain_ends.append(plain.score(after).ends)
    plain_ends.append(plain.score(np.zeros(plain.end_silence(plain.position), dtype=np.float32)).ends)
    ends = np.concatenate([ends, rec.score(np.zeros(rec.end_silence(rec.position), dtype=np.float32)).ends])
    plain_ends = np.concatenate(plain_ends)
    assert np.array_equal(ends, plain_ends[plain_ends != len(before)]) and len(before) in plain_ends
