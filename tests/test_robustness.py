"""Robustness: bad audio, bad weights, faults and long runs. Nothing crashes, nothing is lost.

Every case here is a row of docs/robustness.md. The rule each one checks: a file or a fault
livecmd can live with is handled (exit 0; a clip that cannot be used is skipped and counted);
anything else is refused in one line with exit code 2 (130 for Ctrl-C); never a traceback, a
hang or another exit code, and never a NaN into a model.

Most command lines run as real processes (`python -m livecmd ...`); the two big matrices (every
bad clip through `listen`, every bad weights file through four commands) call the same entry
point, `livecmd.cli.main`, in this process to keep the suite fast, with the engine watched.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import pickle
import pty
import random
import re
import select
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from livecmd import audio, weights
from livecmd.cli import main
from livecmd.errors import LivecmdError
from livecmd.models import build_model
from livecmd.stream import listen as listen_module
from livecmd.stream.listen import ListenOptions, listen
from tests import badaudio, minidata
from tests.conftest import REPO, SHARED, wait_for
from tests.tones import save_tone_model, stream, write_clip
from train import checkpoint
from train.datasets import index
from train.datasets import load as load_dataset

WINDOW = 729  # training window of the miniature runs, as in test_train.py
VMIC = SHARED / "tools" / "virtual-mic"


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """torch on one thread in this process, as the subprocesses run (OMP_NUM_THREADS=1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    return {**env, "OMP_NUM_THREADS": "1", "COLUMNS": "120", **extra}


def _livecmd(*args: str, timeout: float = 120, **popen) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "livecmd", *args], capture_output=True, text=True,
                          timeout=timeout, env=popen.pop("env", _env()), **popen)


def _spawn(*args: str, env: dict[str, str] | None = None, quiet: bool = False) -> subprocess.Popen:
    """`livecmd ARGS` in the background; its output piped, or dropped when `quiet`."""
    output = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen([sys.executable, "-m", "livecmd", *args], stdout=output, stderr=output, text=True,
                            env=env or _env())


def _assert_refused(code: int | None, out: str, err: str, message: str = "") -> str:
    """Exit 2, nothing on stdout, one line on stderr (`livecmd: error: ...`); returns the line."""
    assert "Traceback" not in err, err
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livecmd: error: "), err
    assert re.search(message, lines[0]), lines[0]
    return lines[0]


def _in_process(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    """The CLI entry point in this process: (exit code, stdout, stderr). Any exception other
    than SystemExit escapes, and fails the test with its traceback."""
    monkeypatch.setattr(sys, "argv", ["livecmd", *args])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class _Watched:
    """An engine seen through: records each (windows, scores) pair after `delay_s` of extra
    work per batch; every other attribute is the engine's own."""

    def __init__(self, engine, calls: list[tuple[np.ndarray, np.ndarray]], delay_s: float):
        self._engine, self._calls, self._delay_s = engine, calls, delay_s

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        time.sleep(self._delay_s)
        scores = self._engine(windows)
        self._calls.append((windows.copy(), np.array(scores, copy=True)))
        return scores

    def __getattr__(self, name: str):
        return getattr(self._engine, name)


def _watch_engine(monkeypatch: pytest.MonkeyPatch, delay_s: float = 0.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every batch the listen loop scores, whichever engine the recognizer chose (`run` gets
    the recognizer third)."""
    calls: list[tuple[np.ndarray, np.ndarray]] = []
    real = listen_module.run

    def run(ring, source, recognizer, *rest, **named):
        recognizer.engine = _Watched(recognizer.engine, calls, delay_s)
        return real(ring, source, recognizer, *rest, **named)

    monkeypatch.setattr(listen_module, "run", run)
    return calls


@pytest.fixture
def engine_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[np.ndarray, np.ndarray]]:
    return _watch_engine(monkeypatch)


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tone_model(tmp_path_factory.mktemp("tones") / "tones.safetensors")


# -- 1. bad audio ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("badaudio")
    badaudio.write(folder)
    return folder


USABLE = [c for c in badaudio.CASES if c.usable]
REFUSED = [c for c in badaudio.CASES if not c.usable]


def test_the_corpus_covers_every_kind_of_bad_file_the_issue_names() -> None:
    names = {c.name for c in badaudio.CASES}
    for wanted in ("empty.wav", "truncated-header.wav", "truncated-data.wav", "zero-samples.wav", "nan.wav", "inf.wav",
                   "clipped.wav", "dc-offset.wav", "shorter-than-hop.wav", "folder.wav", "text.wav",
                   "tone.mp3", "tone.ogg", "tone.flac", "rate-8000.wav", "rate-96000.wav"):
        assert wanted in names
    assert {f"subtype-{s}.wav" for s in ("pcm_u8", "pcm_16", "pcm_24", "pcm_32", "float", "double")} <= names
    assert {f"channels-{c}.wav" for c in range(1, 9)} <= names


@pytest.mark.parametrize("case", badaudio.CASES, ids=lambda c: c.name)
def test_each_bad_clip_decodes_to_finite_samples_in_full_scale_or_is_refused_in_one_line(corpus: Path, case: badaudio.Case) -> None:
    if case.usable:
        wave = audio.load(corpus / case.name)
        assert wave.dtype == np.float32 and len(wave) > 0
        assert np.isfinite(wave).all()
        assert np.abs(wave).max() <= 1.2  # full scale, plus the resampler's ringing on a square wave
    else:
        with pytest.raises(LivecmdError) as error:
            audio.load(corpus / case.name)
        assert "\n" not in str(error.value) and str(corpus / case.name) in str(error.value)


def test_non_finite_and_past_full_scale_samples_become_zero_and_full_scale(corpus: Path) -> None:
    nan = audio.load(corpus / "nan.wav")
    assert (nan[::97] == 0).all() and np.abs(nan).max() > 0.4  # the NaNs zeroed, the tone kept
    assert (audio.load(corpus / "all-nan.wav") == 0).all()
    assert np.abs(audio.load(corpus / "over-full-scale.wav")).max() == pytest.approx(1.0)


@pytest.mark.parametrize("case", badaudio.CASES, ids=lambda c: c.name)
def test_listen_handles_each_bad_clip_or_refuses_it_and_no_nan_reaches_the_model(
    corpus: Path, tones: Path, case: badaudio.Case, engine_calls, capsys, monkeypatch
) -> None:
    code, out, err = _in_process(capsys, monkeypatch, "listen", "--input", str(corpus / case.name), "--weights", str(tones),
                                 "--json", "--fast", "--device", "cpu")
    if not case.usable:
        _assert_refused(code, out, err, "cannot (read|use) audio")
        assert engine_calls == []
        return
    assert code == 0, err
    summary = err.strip().splitlines()[-1]
    assert summary.startswith("livecmd listen: ") and " 0 windows" not in summary, err  # even one sample is heard
    assert "Traceback" not in err
    for line in out.splitlines():
        assert 0.0 <= json.loads(line)["score"] <= 1.0
    assert engine_calls
    for windows, scores in engine_calls:
        assert np.isfinite(windows).all() and np.abs(windows).max() <= 1.2
        assert np.isfinite(scores).all()


@pytest.mark.parametrize("name", ["empty.wav", "folder.wav", "text.wav", "truncated.flac", "nan.wav", "channels-8.wav"])
def test_listen_as_a_process_exits_0_or_2_with_one_line(corpus: Path, tones: Path, name: str) -> None:
    result = _livecmd("listen", "--input", str(corpus / name), "--weights", str(tones), "--json", "--fast", "--device", "cpu")
    if name in {c.name for c in REFUSED}:
        _assert_refused(result.returncode, result.stdout, result.stderr, "cannot (read|use) audio")
    else:
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("livecmd listen: ")


@pytest.fixture(scope="module")
def bad_dataset(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A miniature Speech Commands release with the corpus twice, every file named *.wav: in a
    training word folder, and in a word folder whose files the testing list names."""
    root = tmp_path_factory.mktemp("bad-speech") / "speech_commands"
    minidata.speech_release(root, words=("yes", "no", "up"), speakers=8)
    trained = badaudio.write(root / "up", all_wav=True)
    tested = badaudio.write(root / "no", all_wav=True)
    with open(root / "testing_list.txt", "a") as listed:
        listed.writelines(f"no/{c.name}\n" for c in tested)
    return {"root": root, "cache": root.parent / "cache", "run": root.parent / "run",
            "usable": [root / "up" / c.name for c in trained if c.usable]}


def test_train_and_eval_skip_and_count_the_bad_clips_and_train_on_the_rest(bad_dataset: dict) -> None:
    root, cache, run = bad_dataset["root"], bad_dataset["cache"], bad_dataset["run"]
    broken = 1 + 2 * len(REFUSED)  # the miniature's own broken clip, and the corpus's twice
    common = ["--domain", "speech", "--data", str(root), "--cache", str(cache), "--workers", "0"]
    trained = _livecmd("train", *common, "--out", str(run), "--epochs", "1", "--input-samples", str(WINDOW), "--batch-size", "8",
                       "--optimizer", "adamw", timeout=300)
    assert trained.returncode == 0 and "Traceback" not in trained.stderr, trained.stderr
    assert f"skipped 1 missing and {broken} broken files" in trained.stdout
    # a NaN in a training window would have stopped the run ("the loss is not finite")
    assert np.isfinite(json.loads((run / "metrics.jsonl").read_text().splitlines()[0])["train_loss"])

    evaluated = _livecmd("eval", *common, "--weights", str(run / "best.safetensors"), "--json", "--device", "cpu", timeout=300)
    assert evaluated.returncode == 0 and "Traceback" not in evaluated.stderr, evaluated.stderr
    assert f"skipped 1 missing and {broken} broken files" in evaluated.stdout
    report = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert report["clips"] == len(index("speech", root).clips("test")) - len(REFUSED)
    assert 0.0 <= report["accuracy"] <= 1.0

    decoded = load_dataset("speech", root, cache)  # the cache the runs built: what the model was fed
    for path in bad_dataset["usable"]:
        assert path in decoded.cache
        assert len(decoded.cache.wave(path)) > 0
    assert (decoded.cache.wave(root / "up" / "nan.wav")[::97] == 0).all()


# -- 2. bad weights ----------------------------------------------------------------------------------


class _Tripwire:
    """Unpickling this creates the file `marker`: proof that something unpickled it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _retagged(source: Path, path: Path, **meta: object) -> Path:
    """`source`'s tensors with its metadata changed (a value of None removes the field)."""
    from safetensors import safe_open

    with safe_open(str(source), framework="pt") as f:
        raw = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    for key, value in meta.items():
        if value is None:
            raw.pop(key)
        else:
            raw[key] = json.dumps(value)
    save_file(tensors, str(path), metadata=raw)
    return path


@pytest.fixture(scope="module")
def bad_weights(tmp_path_factory: pytest.TempPathFactory, tones: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("badweights")
    good = tones.read_bytes()
    files = {
        "random-bytes": root / "random.safetensors",
        "pickle": root / "tripwire.pt",
        "torch-save": root / "model.pt",
        "truncated": root / "truncated.safetensors",
        "header-only": root / "header.safetensors",
    }
    files["random-bytes"].write_bytes(np.random.default_rng(0).bytes(4096))
    files["pickle"].write_bytes(pickle.dumps(_Tripwire(root / "UNPICKLED")))
    torch.save(build_model("speech", "samplecnn", n_labels=3).state_dict(), files["torch-save"])
    files["truncated"].write_bytes(good[: len(good) // 2])
    files["header-only"].write_bytes(good[:200])
    files["no-metadata"] = root / "plain.safetensors"
    save_file(build_model("speech", "samplecnn", n_labels=3).state_dict(), str(files["no-metadata"]))
    files["missing-labels"] = _retagged(tones, root / "nolabels.safetensors", labels=None)
    files["bad-input-samples"] = _retagged(tones, root / "input.safetensors", input_samples="16000")
    files["tiny-input-samples"] = _retagged(tones, root / "tiny.safetensors", input_samples=1)
    files["empty-labels"] = _retagged(tones, root / "nolabel.safetensors", labels=[])
    files["zero-rate"] = _retagged(tones, root / "rate.safetensors", sample_rate=0)
    files["other-arch"] = _retagged(tones, root / "arch.safetensors", arch="rese2multi")
    files["other-label-count"] = _retagged(tones, root / "labels.safetensors", labels=["a", "b", "c", "d", "e"])
    files["other-domain-shapes"] = _retagged(tones, root / "mtat-shapes.safetensors", domain="mtat")
    files["unknown-domain"] = _retagged(tones, root / "domain.safetensors", domain="birdsong")
    files["marker"] = root / "UNPICKLED"
    return files


_WEIGHTS_MESSAGES = {
    "random-bytes": "not a valid safetensors", "pickle": "not a valid safetensors", "torch-save": "not a valid safetensors",
    "truncated": "not a valid safetensors", "header-only": "not a valid safetensors",
    "no-metadata": "no livecmd metadata", "missing-labels": r"no livecmd metadata \(labels missing\)",
    "bad-input-samples": "invalid livecmd metadata", "tiny-input-samples": "invalid livecmd metadata",
    "empty-labels": "invalid livecmd metadata", "zero-rate": "invalid livecmd metadata",
    "other-arch": "does not fit a speech rese2multi model", "other-label-count": "does not fit a speech samplecnn model",
    "other-domain-shapes": "does not fit a mtat samplecnn model", "unknown-domain": "birdsong",
}


def _command(name: str, w: Path, tmp: Path, clip: Path) -> list[str]:
    return {
        "listen": ["listen", "--input", str(clip), "--weights", str(w), "--json", "--fast", "--device", "cpu"],
        "eval": ["eval", "--domain", "speech", "--data", str(tmp), "--weights", str(w), "--device", "cpu"],
        "export": ["export", "--weights", str(w), "--out", str(tmp / "x.onnx")],
        "visualize": ["visualize", "--weights", str(w), "--out", str(tmp / "filters"), "--steps", "1", "--device", "cpu"],
    }[name]


@pytest.mark.parametrize("command", ["listen", "eval", "export", "visualize"])
@pytest.mark.parametrize("case", list(_WEIGHTS_MESSAGES))
def test_each_bad_weights_file_is_refused_in_one_line_by_every_command(
    bad_weights, corpus: Path, tmp_path: Path, case: str, command: str, capsys, monkeypatch
) -> None:
    if command == "export":
        pytest.importorskip("onnxruntime")
    code, out, err = _in_process(capsys, monkeypatch, *_command(command, bad_weights[case], tmp_path, corpus / "tone.flac"))
    _assert_refused(code, out, err, _WEIGHTS_MESSAGES[case])
    assert not bad_weights["marker"].exists()  # nothing was unpickled
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "filters").exists()


def test_eval_refuses_weights_of_another_domain_than_asked_in_one_line(tones: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    for domain in ("mtat", "dcase"):
        code, out, err = _in_process(capsys, monkeypatch, "eval", "--domain", domain, "--data", str(tmp_path), "--weights", str(tones), "--device", "cpu")
        _assert_refused(code, out, err, f"holds a speech model, not {domain}: pass --domain speech")


@pytest.mark.parametrize("command,case", [("listen", "pickle"), ("eval", "torch-save"), ("export", "truncated"),
                                          ("visualize", "tiny-input-samples")])
def test_bad_weights_are_refused_by_the_real_process(bad_weights, corpus: Path, tmp_path: Path, command: str, case: str) -> None:
    if command == "export":
        pytest.importorskip("onnxruntime")
    result = _livecmd(*_command(command, bad_weights[case], tmp_path, corpus / "tone.flac"))
    _assert_refused(result.returncode, result.stdout, result.stderr, _WEIGHTS_MESSAGES[case])
    assert not bad_weights["marker"].exists()


_UNPICKLERS = {
    ("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("cPickle", "load"), ("cPickle", "loads"),
    ("dill", "load"), ("dill", "loads"), ("cloudpickle", "load"), ("cloudpickle", "loads"), ("joblib", "load"),
    ("marshal", "load"), ("marshal", "loads"), ("shelve", "open"), ("torch.jit", "load"), ("pd", "read_pickle"),
    ("pandas", "read_pickle"),
}


def _unsafe_loads(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in {m for m, _ in _UNPICKLERS}:
            for alias in node.names:
                if (node.module, alias.name) in _UNPICKLERS:
                    yield node.lineno, f"from {node.module} import {alias.name}"
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner, name = ast.unparse(node.func.value), node.func.attr
        keywords = {k.arg: k.value for k in node.keywords}
        if (owner, name) in _UNPICKLERS:
            yield node.lineno, f"{owner}.{name}"
        elif (owner, name) == ("torch", "load"):
            safe = keywords.get("weights_only")
            if not (isinstance(safe, ast.Constant) and safe.value is True):
                yield node.lineno, "torch.load without weights_only=True"
        elif owner in {"np", "numpy"} and name == "load":
            allow = keywords.get("allow_pickle")
            if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                yield node.lineno, "np.load with allow_pickle"


def test_no_code_unpickles_anything() -> None:
    """Weights are safetensors only: no torch.load of a pickle, no pickle/dill/joblib loads."""
    found = []
    for folder in ("livecmd", "train", "benchmarks", "tests", "examples"):
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            found += [f"{path.relative_to(REPO)}:{line}: {what}" for line, what in _unsafe_loads(tree)]
    assert found == []
    # the scan itself finds what it is for
    planted = ast.parse("import torch, pickle\ntorch.load(f)\ntorch.load(f, weights_only=False)\npickle.loads(b)\n"
                        "from pickle import load\ntorch.load(f, weights_only=True)\nnp.load(f, allow_pickle=True)\n")
    assert sorted(line for line, _ in _unsafe_loads(planted)) == [2, 3, 4, 5, 7]


# -- 3. faults: training -----------------------------------------------------------------------------


def _train_args(root: Path, out: Path, epochs: int, *extra: str) -> list[str]:
    return ["train", "--domain", "speech", "--data", str(root), "--out", str(out), "--cache", str(out.parent / "cache"),
            "--epochs", str(epochs), "--input-samples", str(WINDOW), "--batch-size", "8", "--optimizer", "adamw",
            "--workers", "0", "--device", "cpu", *extra]


def _epochs_logged(out: Path) -> list[int]:
    log = out / "metrics.jsonl"
    if not log.is_file():
        return []
    rows = []
    for line in log.read_text().splitlines():
        try:
            rows.append(json.loads(line)["epoch"])
        except ValueError:  # a line cut by the kill
            pass
    return rows


def test_kill_9_at_five_random_moments_then_resume_loses_at_most_one_epoch(tmp_path: Path) -> None:
    mini = minidata.speech_release(tmp_path / "speech_commands", words=("yes", "no"), speakers=6)
    out = tmp_path / "run"
    rng = random.Random(9)
    done = 0  # epochs the checkpoint holds
    for kill in range(5):
        process = _spawn(*_train_args(mini.root, out, 1000, *(["--resume"] if kill else [])), quiet=True)
        if kill == 0:
            wait_for(out / "last.safetensors", process)
        time.sleep(rng.uniform(0.3, 3.0))  # in start-up, resume, an epoch, validation or a checkpoint write
        logged = max(_epochs_logged(out), default=0)
        process.kill()
        process.communicate()
        state = checkpoint.load(out / "last.safetensors").state  # never a torn file
        assert state["epoch"] >= done  # what was saved is never lost
        assert state["epoch"] >= logged - 1  # at most the epoch in progress is lost
        done = state["epoch"]
    finished = _livecmd(*_train_args(mini.root, out, done + 1, "--resume"), timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert f"resuming {out} at epoch {done + 1}" in finished.stdout
    assert _epochs_logged(out) == list(range(1, done + 2))  # one line per epoch, none twice, none torn
    assert checkpoint.load(out / "last.safetensors").state["epoch"] == done + 1
    assert done >= 1  # the kills did land after some training


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A finished 2-epoch run of a miniature dataset, to copy and continue under faults."""
    base = tmp_path_factory.mktemp("faults")
    mini = minidata.speech_release(base / "speech_commands", words=("yes", "no"), speakers=6)
    result = _livecmd(*_train_args(mini.root, base / "run", 2), timeout=300)
    assert result.returncode == 0, result.stderr
    return {"root": mini.root, "run": base / "run", "cache": base / "cache"}


def _copy_run(two_epochs: dict[str, Path], out: Path) -> dict[str, str]:
    """The 2-epoch run copied to `out`; the digest of its checkpoint."""
    shutil.copytree(two_epochs["run"], out)
    return {"last.safetensors": _digest(out / "last.safetensors")}


def _continue_in(two_epochs: dict[str, Path], out: Path, **popen) -> subprocess.CompletedProcess[str]:
    """Continue the run in `out` to 4 epochs."""
    args = _train_args(two_epochs["root"], out, 4, "--resume")
    args[args.index("--cache") + 1] = str(two_epochs["cache"])
    return _livecmd(*args, timeout=300, **popen)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_stopped_cleanly(result: subprocess.CompletedProcess[str], out: Path, before: dict[str, str], reason: str) -> None:
    """A clear one-line error (exit 2), the last good checkpoint as it was, no temp files."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("livecmd: error: cannot write ") and re.search(reason, error), error
    assert "unchanged" in error
    assert _digest(out / "last.safetensors") == before["last.safetensors"]
    assert checkpoint.load(out / "last.safetensors").state["epoch"] == 2
    weights.load(out / "best.safetensors")  # still whole, if rewritten
    assert not list(out.glob("*.tmp"))


def test_a_file_size_limit_during_training_stops_it_cleanly_and_resume_goes_on(two_epochs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    before = _copy_run(two_epochs, out)
    limit = (out / "best.safetensors").stat().st_size // 2  # no weights file fits

    def small_files() -> None:  # Python ignores SIGXFSZ: an oversized write is an OSError (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = _continue_in(two_epochs, out, preexec_fn=small_files)
    _assert_stopped_cleanly(result, out, before, "File too large")
    resumed = _continue_in(two_epochs, out)  # with room again, the same run goes on from epoch 3
    assert resumed.returncode == 0, resumed.stderr
    assert _epochs_logged(out) == [1, 2, 3, 4]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 MB tmpfs of our own (root only), unmounted afterwards."""
    point = tmp_path / "tmpfs"
    point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'})")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_a_full_disk_during_training_stops_it_cleanly(two_epochs: dict[str, Path], tmpfs: Path) -> None:
    out = tmpfs / "run"
    before = _copy_run(two_epochs, out)
    free = shutil.disk_usage(tmpfs).free
    (tmpfs / "filler").write_bytes(b"\0" * (free - 256 * 1024))  # 256 kB left: no weights file fits
    result = _continue_in(two_epochs, out)
    _assert_stopped_cleanly(result, out, before, "No space left on device|os error 28")


@contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """`folder` unwritable for the block: a read-only bind mount as root (who ignores
    permissions), no write permission otherwise."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    bound = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here ({bound.stderr.strip()})")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_read_only_out_during_training_stops_it_cleanly(two_epochs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    before = _copy_run(two_epochs, out)
    with _read_only(out):
        result = _continue_in(two_epochs, out)
    _assert_stopped_cleanly(result, out, before, "Read-only file system|Permission denied|os error (30|13)")


def test_no_room_for_the_decoded_audio_cache_is_one_line_and_leaves_no_half_cache(two_epochs: dict[str, Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    args = _train_args(two_epochs["root"], tmp_path / "run", 1)
    args[args.index("--cache") + 1] = str(cache)

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))  # the decoded clips need more

    result = _livecmd(*args, timeout=300, preexec_fn=small_files)
    _assert_refused(result.returncode, "", result.stderr, r"cannot write the decoded-audio cache in .*\(File too large\)")
    assert list(cache.iterdir()) == [] and not (tmp_path / "run").exists()


def test_an_out_that_cannot_be_created_is_one_line(two_epochs: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    args = _train_args(two_epochs["root"], blocker / "run", 1)
    args[args.index("--cache") + 1] = str(two_epochs["cache"])
    result = _livecmd(*args, timeout=300)
    _assert_refused(result.returncode, "", result.stderr, "cannot create the run folder")


def test_a_log_line_torn_by_a_kill_is_dropped_on_resume(two_epochs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    _copy_run(two_epochs, out)
    with open(out / "metrics.jsonl", "a") as log:
        log.write('{"epoch": 3, "train_lo')  # the kill came in the middle of the write
    result = _continue_in(two_epochs, out)
    assert result.returncode == 0, result.stderr
    assert _epochs_logged(out) == [1, 2, 3, 4]


# -- 3. faults: listen -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def words_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("words") / "words.wav", stream([(1.3, "low"), (3.2, "high")], seconds=30.0))


@pytest.fixture(scope="module")
def low_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One word and silence: what is heard after it cannot be mistaken for this clip's."""
    return write_clip(tmp_path_factory.mktemp("low") / "low.wav", stream([(1.3, "low")], seconds=30.0))


def test_ctrl_c_while_listen_starts_exits_130_with_one_line(tones: Path, words_clip: Path) -> None:
    rng = random.Random(3)
    codes = []
    for _ in range(3):
        process = _spawn("listen", "--input", str(words_clip), "--weights", str(tones), "--json", "--device", "cpu")
        time.sleep(rng.uniform(0.3, 1.2))  # importing torch, loading the weights, warming up
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        assert "Traceback" not in err, err
        if process.returncode == 0:  # it had started: the summary, as for a Ctrl-C while listening
            assert err.strip().splitlines()[-1].startswith("livecmd listen: ")
        else:
            assert process.returncode == 130 and err == "livecmd: interrupted (Ctrl-C)\n" and out == "", (process.returncode, err)
        codes.append(process.returncode)
    assert 130 in codes  # at least one landed in start-up


def test_a_ctrl_c_that_python_would_drop_still_ends_the_command() -> None:
    # A Ctrl-C raised in a finalizer cannot be caught: Python prints "Exception ignored" and goes
    # on. One landing in importlib's module-lock callbacks while torch imported did that in CI:
    # listen ran to the end of its clip as if no key had been pressed.
    script = """
import time
from livecmd import cli

class Finalized:
    def __del__(self):
        raise KeyboardInterrupt  # as when the Ctrl-C arrives while a finalizer runs

def command():
    Finalized()
    end = time.monotonic() + 10.0
    while time.monotonic() < end:
        pass
    print("went on")

cli.app = command
cli.main()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "livecmd: interrupted (Ctrl-C)\n")


def test_a_ctrl_c_while_the_cli_itself_imports_is_one_line() -> None:
    # `livecmd` imports typer and rich before any command runs: a tenth of a second, more on a
    # busy machine, and a Ctrl-C there ended in a traceback.
    script = """
import os, runpy, signal, sys

class PressCtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "typer":
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, pressed as typer is imported
        return None

sys.meta_path.insert(0, PressCtrlC())
sys.argv = ["livecmd", "--help"]
runpy.run_module("livecmd", run_name="__main__")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "livecmd: interrupted (Ctrl-C)\n")


def test_a_ctrl_c_while_torch_imports_is_held_until_the_import_is_over() -> None:
    # torch's C++ start-up checks for signals itself (torch.distributed's _c10d_init): a
    # KeyboardInterrupt raised there aborted the process (exit -6, "terminate called after throwing
    # an instance of 'pybind11::error_already_set'"), about one Ctrl-C in fifty during listen's
    # start-up in CI. Here the press lands as torch.distributed is looked for: it must not be
    # raised inside torch's import, and must be raised once torch is imported.
    script = """
import os, signal, sys, time
from livecmd import interrupts

class PressCtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "torch.distributed":
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, PressCtrlC())
with interrupts.caught():
    try:
        import torch
        end = time.monotonic() + 10.0
        while time.monotonic() < end:
            pass
        print("went on")
    except KeyboardInterrupt:  # a failed import takes its modules out of sys.modules
        print("interrupted; torch imported whole:", "torch.distributed" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=_env())
    assert (done.returncode, done.stdout, done.stderr) == (0, "interrupted; torch imported whole: True\n", ""), done


def test_a_ctrl_c_that_a_library_swallows_while_listen_starts_still_stops_it(tones: Path, words_clip: Path) -> None:
    # A catch-all `except:` in code that start-up runs takes the KeyboardInterrupt away; listen
    # must stop all the same, at once, with its summary (it ran to the end of the clip before).
    script = f"""
import os, signal, sys
from livecmd import cli, weights

load = weights.load
def swallowing_load(*args, **kwargs):
    try:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, raised in here
    except BaseException:  # as a library's catch-all does
        pass
    return load(*args, **kwargs)

weights.load = swallowing_load
sys.argv = ["livecmd", "listen", "--input", {str(words_clip)!r}, "--weights", {str(tones)!r}, "--json", "--device", "cpu"]
cli.main()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    summary = done.stderr.strip().splitlines()
    assert len(summary) == 1 and summary[0].startswith("livecmd listen: "), done.stderr
    assert float(summary[0].split()[2]) < 1.0, summary  # seconds of audio heard: stopped before it began


def test_an_error_that_a_ctrl_c_caused_while_listen_starts_is_the_ctrl_c(tones: Path, words_clip: Path) -> None:
    # safetensors meets a KeyboardInterrupt raised in its own calls into torch and reports another
    # error instead ("could not determine the shape of object type 'torch.storage.UntypedStorage'"):
    # found by pressing Ctrl-C at 5-ms steps through listen's start-up, it read as a broken weights
    # file, exit 2. Here the press lands as the weights are read, and the read fails as it did.
    script = f"""
import os, signal, sys
from livecmd import cli, weights

def interrupted_read(path):
    try:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, landing in the read
    except KeyboardInterrupt:
        pass
    raise weights._not_safetensors(path, TypeError("could not determine the shape of object type 'torch.storage.UntypedStorage'"))

weights.read_meta = interrupted_read
sys.argv = ["livecmd", "listen", "--input", {str(words_clip)!r}, "--weights", {str(tones)!r}, "--json", "--device", "cpu"]
cli.main()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=_env())
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "livecmd: interrupted (Ctrl-C)\n")


def test_a_ctrl_c_that_the_shell_ignores_for_a_background_job_stays_ignored(tones: Path, tmp_path: Path) -> None:
    # `livecmd listen ... &` in a script: the shell starts it with SIGINT ignored, so that a Ctrl-C
    # meant for the script leaves it running. Python keeps that choice; livecmd must too.
    clip = write_clip(tmp_path / "short.wav", stream([(1.0, "low")], seconds=4.0))
    process = subprocess.Popen([sys.executable, "-m", "livecmd", "listen", "--input", str(clip), "--weights", str(tones), "--json", "--device", "cpu"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert json.loads(process.stdout.readline())["label"] == "low"  # listening
    process.send_signal(signal.SIGINT)
    err = process.communicate(timeout=60)[1]
    assert process.returncode == 0, err
    assert float(err.strip().splitlines()[-1].split()[2]) >= 3.9  # heard to the end of the clip


def test_ctrl_c_in_the_live_view_leaves_the_view_and_the_summary(tones: Path, words_clip: Path) -> None:
    # The view on a terminal (a pseudo-terminal), as people see it; Ctrl-C once it is drawn (a
    # fixed wait could land in start-up on a slow machine).
    screen, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "livecmd", "listen", "--input", str(words_clip), "--weights", str(tones), "--device", "cpu"],
                               stdout=terminal, stderr=subprocess.PIPE, text=True, env=_env(LINES="40"))
    os.close(terminal)
    shown = _read_screen(screen, until=b"latency", seconds=120)
    process.send_signal(signal.SIGINT)
    shown += _read_screen(screen, until=None, seconds=30)
    os.close(screen)
    err = process.communicate(timeout=30)[1]
    assert process.returncode == 0 and "Traceback" not in err, err
    view = shown.decode(errors="replace")
    assert "livecmd listen" in view and "latency" in view and "_silence_" in view  # the view, left on screen
    summary = err.strip().splitlines()
    assert len(summary) == 1 and summary[0].startswith("livecmd listen: ")
    assert float(summary[0].split()[2]) < 30.0  # stopped before the end of the clip


def _read_screen(screen: int, until: bytes | None, seconds: float) -> bytes:
    """What the program writes to its terminal, until `until` appears or it closes the terminal."""
    shown, deadline = b"", time.monotonic() + seconds
    while (until is None or until not in shown) and time.monotonic() < deadline:
        if select.select([screen], [], [], 0.5)[0]:
            try:
                chunk = os.read(screen, 65536)
            except OSError:  # EIO: the program has closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    return shown


def test_a_starved_engine_drops_audio_counts_and_shows_it_and_latency_stays_bounded(
    tones: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every batch takes longer than the ring holds beyond a window: each time, audio no window
    # has read yet is overwritten. (A reader merely behind by less than a window skips windows
    # but not audio: the windows it still reads overlap every sample.)
    busy_s = 1.5
    _watch_engine(monkeypatch, delay_s=busy_s)
    clip = write_clip(tmp_path / "words.wav", stream([(1.0, "low"), (3.0, "high")], seconds=6.0))
    view, err = io.StringIO(), io.StringIO()
    buffer_s = 1.2  # about the least the ring may hold: one window and one hop (the engine may round the hop up)
    totals = listen(ListenOptions(input=clip, weights=tones, device="cpu", buffer_s=buffer_s), out=view, err=err)
    assert totals.dropped > 0.5 * 16_000  # audio was lost...
    assert totals.windows >= 3 and totals.samples > 5 * 16_000  # ... but the recognizer kept going to the end
    summary = err.getvalue().strip()
    assert f"dropped {totals.dropped / 16_000:.2f} s" in summary and "dropped 0.00 s" not in summary
    shown = [float(s) for s in re.findall(r"dropped\s+(\d+\.\d\d) s", view.getvalue())]
    assert shown and shown[-1] > 0  # the live view shows it too
    # a window is scored at most one ring (minus a window) after it ends, plus one slow batch
    assert totals.latencies.most <= 1000 * (buffer_s + busy_s) + 500


# -- 3. faults and 4. long runs: the microphone --------------------------------------------------------


@pytest.fixture
def private_vmic(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A virtual microphone of this test's own (it gets stopped on purpose)."""
    if not (VMIC / "setup.sh").is_file():
        pytest.skip(f"the virtual microphone tool is absent ({VMIC})")
    state = tmp_path / "vmic"
    env = {**os.environ, "VMIC_DIR": str(state)}
    setup = subprocess.run([str(VMIC / "setup.sh")], env=env, capture_output=True, text=True, timeout=600)
    if setup.returncode != 0:
        pytest.skip(f"PulseAudio could not be installed or started here: {(setup.stderr.strip().splitlines() or ['?'])[-1]}")
    env.update(PULSE_SERVER=f"unix:{state}/pulse/native", PULSE_COOKIE=str(state / "cookie"), OMP_NUM_THREADS="1")
    try:
        yield env
    finally:
        subprocess.run([str(VMIC / "teardown.sh")], env=env, capture_output=True, timeout=60)


def _pulse_daemon(env: dict[str, str]) -> int:
    return int((Path(env["VMIC_DIR"]) / "pulse" / "pid").read_text())


@pytest.mark.mic
@pytest.mark.parametrize("how", ["stopped", "frozen"])
def test_the_microphone_vanishing_mid_stream_ends_listen_with_a_clear_message(
    private_vmic, tones: Path, words_clip: Path, how: str
) -> None:
    """`stopped`: its sound server goes away (PortAudio ends the stream); `frozen`: the server
    hangs (SIGSTOP), so the stream stays open and simply stops delivering audio."""
    # no gain control: it may raise the tone clip's noise over the sound server's ramp-in (tests/test_mic.py)
    process = _spawn("listen", "--mic", "pulse", "--json", "--weights", str(tones), "--device", "cpu", "--no-agc", env=private_vmic)
    watchdog = threading.Timer(90, process.kill)
    watchdog.start()
    daemon = _pulse_daemon(private_vmic)
    try:
        ready = process.stderr.readline()
        assert ready.startswith("livecmd listen: listening to microphone 'pulse'"), ready
        subprocess.run([str(VMIC / "feed.sh"), "--loop", str(words_clip)], env=private_vmic, check=True, timeout=30)
        first = json.loads(process.stdout.readline())  # it hears the feed...
        gone = time.monotonic()
        if how == "stopped":  # ... then the microphone goes
            subprocess.run([str(VMIC / "teardown.sh")], env=private_vmic, capture_output=True, timeout=60)
        else:
            os.kill(daemon, signal.SIGSTOP)
        out, err = process.communicate(timeout=30)
        waited = time.monotonic() - gone
    finally:
        watchdog.cancel()
        if how == "frozen":
            os.kill(daemon, signal.SIGCONT)  # so that the fixture's teardown can stop it
    assert first["label"] == "low"
    assert "Traceback" not in err, err
    assert process.returncode == 2, err
    lines = err.strip().splitlines()  # PortAudio's own complaints may come first
    assert lines[-2].startswith("livecmd listen: ")  # the summary of what was heard
    assert lines[-1].startswith("livecmd: error: the microphone 'pulse' stopped after ")
    assert ("its stream ended" if how == "stopped" else "it sent no audio for 2 s") in lines[-1]
    assert waited < 20


def _line_with(stream: IO[str], text: str) -> str:
    """The first line of `stream` holding `text` (PortAudio's and ALSA's own complaints skipped)."""
    for line in stream:
        if text in line:
            return line
    raise AssertionError(f"{text!r} never came")


@pytest.mark.mic
@pytest.mark.parametrize("how", ["stopped", "frozen"])
def test_with_reconnect_listen_waits_for_the_microphone_to_come_back_and_goes_on(
    private_vmic, tones: Path, low_clip: Path, words_clip: Path, how: str
) -> None:
    """The sound server goes away and starts again (as a USB microphone comes back when plugged
    in again), or hangs and wakes up: with --reconnect listen says so on stderr, waits, captures
    the microphone again and hears the words played after it came back; the time away counts as
    dropped audio."""
    process = _spawn("listen", "--mic", "pulse", "--json", "--weights", str(tones), "--device", "cpu", "--no-agc", "--reconnect",
                     "--duration", "10", env=private_vmic)
    watchdog = threading.Timer(120, process.kill)
    watchdog.start()
    daemon = _pulse_daemon(private_vmic)
    try:
        assert _line_with(process.stderr, "livecmd listen: ").startswith("livecmd listen: listening to microphone 'pulse'")
        # "low" alone before, so that a "high" heard after is one played after the microphone came back
        subprocess.run([str(VMIC / "feed.sh"), "--loop", str(low_clip)], env=private_vmic, check=True, timeout=30)
        before = json.loads(process.stdout.readline())  # it hears the feed...
        # ... which stops, so that a frozen server, once woken, does not play on what it held
        subprocess.run([str(VMIC / "feed.sh"), "--stop"], env=private_vmic, check=True, timeout=30)
        if how == "stopped":  # ... and the microphone goes
            subprocess.run([str(VMIC / "teardown.sh")], env=private_vmic, capture_output=True, timeout=60)
        else:
            os.kill(daemon, signal.SIGSTOP)
        lost = _line_with(process.stderr, "livecmd listen: ")
        gone = time.monotonic()
        assert process.poll() is None  # still running, waiting
        time.sleep(2.0)
        if how == "stopped":  # ... and comes back
            subprocess.run([str(VMIC / "setup.sh")], env=private_vmic, capture_output=True, check=True, timeout=120)
        else:
            os.kill(daemon, signal.SIGCONT)
        back = _line_with(process.stderr, "livecmd listen: ")
        away = time.monotonic() - gone
        subprocess.run([str(VMIC / "feed.sh"), "--loop", str(words_clip)], env=private_vmic, check=True, timeout=30)
        after = [json.loads(line) for line in process.stdout]  # what it heard once the microphone was back, to --duration
        process.wait(timeout=30)
        summary = _line_with(process.stderr, "livecmd listen: ")
    finally:
        watchdog.cancel()
        if how == "frozen":
            os.kill(daemon, signal.SIGCONT)  # so that the fixture's teardown can stop it, whatever failed
    assert before["label"] == "low"
    assert "microphone 'pulse' lost" in lost and "waiting for it to come back" in lost, lost
    assert "microphone found: listening" in back, back
    assert [d["label"] for d in after][:2] == ["low", "high"] and all(d["time"] > before["time"] for d in after)
    assert process.returncode == 0
    dropped = float(re.search(r"dropped ([0-9.]+) s", summary).group(1))
    assert 2.0 <= dropped <= away + 2.0, (dropped, away, summary)


@pytest.mark.mic
def test_with_reconnect_listen_started_before_the_microphone_waits_for_it(private_vmic, tones: Path, words_clip: Path) -> None:
    """A service started before the sound server: with --reconnect, no microphone at the start
    is waited for (stderr says so), not an error; once the server is up its words are heard, and
    the wait is not counted as dropped audio."""
    subprocess.run([str(VMIC / "teardown.sh")], env=private_vmic, capture_output=True, timeout=60)
    process = _spawn("listen", "--mic", "pulse", "--json", "--weights", str(tones), "--device", "cpu", "--no-agc", "--reconnect",
                     "--duration", "6", env=private_vmic)
    watchdog = threading.Timer(120, process.kill)
    watchdog.start()
    try:
        ready = _line_with(process.stderr, "livecmd listen: ")
        waiting = _line_with(process.stderr, "livecmd listen: ")
        subprocess.run([str(VMIC / "setup.sh")], env=private_vmic, capture_output=True, check=True, timeout=120)
        back = _line_with(process.stderr, "livecmd listen: ")
        subprocess.run([str(VMIC / "feed.sh"), "--loop", str(words_clip)], env=private_vmic, check=True, timeout=30)
        heard = [json.loads(line)["label"] for line in process.stdout]
        process.wait(timeout=30)
        summary = _line_with(process.stderr, "livecmd listen: ")
    finally:
        watchdog.cancel()
    assert ready.startswith("livecmd listen: listening to --mic pulse (none there yet)"), ready
    assert "no microphone (--mic pulse) yet: waiting for one" in waiting, waiting
    assert "microphone found: listening" in back, back
    assert heard[:2] == ["low", "high"] and process.returncode == 0
    assert "dropped 0.00 s" in summary, summary


@pytest.mark.slow
@pytest.mark.mic
def test_a_one_minute_soak_keeps_memory_flat_drops_nothing_and_latency_stable(tmp_path: Path) -> None:
    if not (VMIC / "setup.sh").is_file():
        pytest.skip(f"the virtual microphone tool is absent ({VMIC})")
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "listen_soak.py"), "--minutes", "1", "--settle", "20",
                             "--json"], capture_output=True, text=True, timeout=240, env=_env(VMIC_DIR=str(tmp_path / "vmic")))
    if result.returncode == 3:
        pytest.skip(result.stderr.strip().splitlines()[-1])
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.returncode == 0, (report, result.stderr)
    assert report["rss_growth_pct"] < 5.0
    assert report["dropped_s"] == 0.0
    assert report["detections"] >= 0.8 * report["words_played"]
    assert report["p99_ms_second_half"] <= 1.5 * report["p99_ms_first_half"] + 50


# -- 5. the docs ------------------------------------------------------------------------------------


def test_docs_robustness_names_every_case_and_every_test() -> None:
    """docs/robustness.md is the table of what is tried here: it must not drift from the tests."""
    doc = (REPO / "docs" / "robustness.md").read_text()
    tests = [name for name in globals() if name.startswith("test_")]
    assert [name for name in tests if name not in doc] == []
    ranges = ("subtype-", "channels-", "rate-")  # listed as first … last
    assert [c.name for c in badaudio.CASES if f"`{c.name}`" not in doc and not c.name.startswith(ranges)] == []
    assert [key for key in _WEIGHTS_MESSAGES if f"`{key}`" not in doc] == []

