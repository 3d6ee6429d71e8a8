"""Training on miniature copies of the three datasets in their real layouts: learning, the run
folder, resume after Ctrl-C, kill -9, a diverging loss, and DistributedDataParallel under torchrun.

The miniature runs use 729-sample windows (the product uses the paper's 16,000 / 39,366 / 19,683)
and AdamW at lr 0.001, which learns these tiny sets in a dozen epochs of a few steps where the
paper's SGD needs more; torch runs on one thread, which on a shared 2-core machine is many times
faster than two threads that wait for each other whenever another process takes a core.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from livecmd import weights
from livecmd.domains import get_domain
from livecmd.errors import LivecmdError
from livecmd.models import build_model
from rich.console import Console

from tests import minidata
from tests.conftest import TORCHRUN, run_cli, wait_for
from train import checkpoint, precision
from train.datasets import index
from train.evaluate import evaluate
from train.fit import TrainConfig, train

WINDOW = 729


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config(domain: str, data: Path, out: Path, **changes) -> TrainConfig:
    settings = dict(domain=domain, data=data, out=out, cache=out.parent / "cache", workers=0, input_samples=WINDOW,
                    batch_size=8, optimizer="adamw", epochs=10)
    return TrainConfig(**{**settings, **changes})


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _test_score(domain: str, data: Path, out: Path) -> dict:
    return evaluate(domain, data, out / "best.safetensors", workers=0, cache_dir=out.parent / "cache")


# -- learning ---------------------------------------------------------------------------------------


def test_training_beats_chance_on_miniature_speech_commands_and_writes_the_run(tmp_path: Path) -> None:
    mini = minidata.speech_release(tmp_path / "speech_commands", speakers=24)
    out = tmp_path / "run"
    outcome = train(_config("speech", mini.root, out))
    assert not outcome.interrupted and outcome.epochs_done == 10
    result = _test_score("speech", mini.root, out)
    assert result["clips"] == 10 and result["accuracy"] >= 0.6  # 5 classes here: chance is 0.2
    meta = weights.read_meta(out / "best.safetensors")
    assert (meta.domain, meta.arch, meta.labels) == ("speech", "samplecnn", index("speech", mini.root).labels)
    assert meta.input_samples == WINDOW and meta.extra["data"] == str(mini.root) and meta.extra["epochs"] == 10
    assert meta.metrics["accuracy"] == max(row["valid"]["accuracy"] for row in _log(out)) == outcome.best["accuracy"]
    assert [row["epoch"] for row in _log(out)] == list(range(1, 11))
    state = checkpoint.load(out / "last.safetensors").state
    assert (state["epoch"], state["step"]) == (10, 0)


def test_training_beats_chance_on_miniature_magnatagatune(tmp_path: Path) -> None:
    mini = minidata.mtat(tmp_path / "mtat", per_folder=8)
    out = tmp_path / "run"
    train(_config("mtat", mini.root, out))
    result = _test_score("mtat", mini.root, out)
    assert result["tags_scored"] == 4 and result["roc_auc"] >= 0.8  # chance is 0.5


def test_training_beats_chance_on_miniature_dcase(tmp_path: Path) -> None:
    mini = minidata.dcase(tmp_path / "dcase", train_clips=60, held=8, test_clips=16)
    out = tmp_path / "run"
    train(_config("dcase", mini.root, out))
    result = _test_score("dcase", mini.root, out)
    positives = sum(len(mini.labels[p]) for p in mini.splits["test"]) / (16 * len(get_domain("dcase").labels))
    assert result["f_score"] >= 0.6 > 2 * positives / (1 + positives)  # tagging everything scores the latter


def test_training_on_the_twelve_class_layout_outputs_its_labels(tmp_path: Path) -> None:
    mini = minidata.speech_twelve(tmp_path / "test_set")
    out = tmp_path / "run"
    train(_config("speech", mini.root, out, epochs=1))
    assert weights.read_meta(out / "best.safetensors").labels == ("yes", "no", "up", "_silence_", "_unknown_")


# -- checkpoints, resume and faults ---------------------------------------------------------------


def test_checkpoint_keeps_model_optimizer_tensors_and_scalars(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    for optimizer in (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True), torch.optim.AdamW(model.parameters())):
        model(torch.randn(4, 3)).sum().backward()
        optimizer.step()
        checkpoint.save(tmp_path / "last.safetensors", model.state_dict(), optimizer.state_dict(), {"epoch": 3, "best": -float("inf")})
        back = checkpoint.load(tmp_path / "last.safetensors")
        assert back.state == {"epoch": 3, "best": -float("inf")}
        assert all(torch.equal(back.model[k], v) for k, v in model.state_dict().items())
        fresh = type(optimizer)(model.parameters(), lr=1.0)
        fresh.load_state_dict(back.optimizer)
        for key, value in optimizer.state_dict()["state"][0].items():
            assert torch.equal(torch.as_tensor(fresh.state_dict()["state"][0][key]), torch.as_tensor(value))
        assert fresh.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


def test_resume_after_an_interrupt_ends_with_the_uninterrupted_run_s_weights(tmp_path: Path) -> None:
    mini = minidata.speech_release(tmp_path / "speech_commands")
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    train(_config("speech", mini.root, whole, epochs=3, batch_size=4))

    def ctrl_c_during_epoch_2() -> None:
        while not (cut / "metrics.jsonl").exists():
            time.sleep(0.005)
        time.sleep(random.uniform(0.0, 0.1))
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=ctrl_c_during_epoch_2, daemon=True).start()
    stopped = train(_config("speech", mini.root, cut, epochs=3, batch_size=4))
    assert stopped.interrupted and stopped.epochs_done == 1
    assert checkpoint.load(cut / "last.safetensors").state["epoch"] == 1
    resumed = train(_config("speech", mini.root, cut, epochs=3, batch_size=4, resume=True))
    assert not resumed.interrupted and resumed.epochs_done == 3
    assert [row["epoch"] for row in _log(cut)] == [1, 2, 3]
    for name in ("last.safetensors", "best.safetensors"):
        a, b = load_file(whole / name), load_file(cut / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name  # bit for bit
    assert [row["train_loss"] for row in _log(whole)] == pytest.approx([row["train_loss"] for row in _log(cut)], rel=1e-6)


def test_resuming_in_fp16_a_run_saved_without_a_loss_scale_goes_on_and_back(tmp_path: Path, monkeypatch) -> None:
    mini = minidata.speech_release(tmp_path / "speech_commands")
    out = tmp_path / "run"
    train(_config("speech", mini.root, out, epochs=1, amp="off"))  # as a CPU or bf16 session saves it: no scale
    assert checkpoint.load(out / "last.safetensors").state["scaler"] == {}
    # The session goes on where autocast picks fp16 (a GPU without bf16): the loop's real GradScaler,
    # enabled; torch runs fp16 autocast and the scaler on a CPU too.
    with monkeypatch.context() as m:
        m.setattr(precision, "autocast_dtype", lambda device, amp="auto": torch.float16)
        console = Console(record=True, width=400)
        assert train(_config("speech", mini.root, out, epochs=2, resume=True), console).epochs_done == 2
    assert "precision changes on resume: fp32 before, fp16 now" in console.export_text()
    state = checkpoint.load(out / "last.safetensors").state
    assert state["precision"] == "fp16" and state["scaler"]["scale"] > 0
    assert train(_config("speech", mini.root, out, epochs=3, amp="off", resume=True)).epochs_done == 3  # and back to fp32
    assert checkpoint.load(out / "last.safetensors").state["scaler"] == {}


def test_sync_bn_on_a_cpu_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    mini = minidata.speech_release(tmp_path / "speech_commands")
    code, _, err = run_cli(["train", *_mini_args(mini.root, tmp_path / "run", 1), "--device", "cpu", "--sync-bn"], monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--sync-bn needs CUDA" in err
    assert not (tmp_path / "run").exists()


def test_mtat_and_dcase_epochs_read_every_segment_and_a_resume_keeps_the_run_s_choice(tmp_path: Path) -> None:
    mini = minidata.mtat(tmp_path / "mtat", per_folder=1)
    out = tmp_path / "run"
    console = Console(record=True, width=400)
    train(_config("mtat", mini.root, out, epochs=1), console)
    assert "all 12 segments per clip per epoch, on train)" in console.export_text()
    assert checkpoint.load(out / "last.safetensors").state["config"]["epoch_windows"] == "all"
    console = Console(record=True, width=400)
    train(_config("mtat", mini.root, out, epochs=2, resume=True, epoch_windows="random"), console)  # the run's own setting wins
    assert "all 12 segments per clip per epoch" in console.export_text()
    assert weights.read_meta(out / "best.safetensors").extra["recipe"]["epoch_windows"] == "all"
    other = tmp_path / "random"
    console = Console(record=True, width=400)
    train(_config("mtat", mini.root, other, epochs=1, epoch_windows="random"), console)
    assert "one random window per clip per epoch" in console.export_text()


def _livecmd_train(*args: str, ctrl_c_ignored: bool = False) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "livecmd", "train", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ctrl_c_ignored else None)


def _mini_args(root: Path, out: Path, epochs: int, *extra: str) -> list[str]:
    return ["--domain", "speech", "--data", str(root), "--out", str(out), "--cache", str(out.parent / "cache"),
            "--epochs", str(epochs), "--input-samples", str(WINDOW), "--batch-size", "4", "--workers", "0", *extra]


def test_training_started_with_ctrl_c_ignored_keeps_it_ignored(tmp_path: Path) -> None:
    # `livecmd train ... &` in a script: the shell ignores SIGINT for it, so that a Ctrl-C meant
    # for the script leaves the training running; the stop request must not take that back.
    mini = minidata.speech_release(tmp_path / "speech_commands")
    out = tmp_path / "run"
    process = _livecmd_train(*_mini_args(mini.root, out, 3), ctrl_c_ignored=True)
    wait_for(out / "metrics.jsonl", process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0 and "interrupted" not in stdout, stderr
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3


def test_ctrl_c_saves_a_resumable_checkpoint_exits_130_and_resume_continues_the_epochs(tmp_path: Path) -> None:
    mini = minidata.speech_release(tmp_path / "speech_commands")
    out = tmp_path / "run"
    process = _livecmd_train(*_mini_args(mini.root, out, 100))
    wait_for(out / "metrics.jsonl", process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stdout and "--resume" in stdout and "Traceback" not in stderr
    done = checkpoint.load(out / "last.safetensors").state["epoch"]
    assert 1 <= done < 100
    process = _livecmd_train(*_mini_args(mini.root, out, done + 2, "--resume"))
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert [row["epoch"] for row in _log(out)] == list(range(1, done + 3))
    assert checkpoint.load(out / "last.safetensors").state["epoch"] == done + 2


def test_kill_9_at_any_moment_leaves_a_checkpoint_to_resume_from(tmp_path: Path) -> None:
    mini = minidata.speech_release(tmp_path / "speech_commands")
    out = tmp_path / "run"
    rng = random.Random(0)
    for attempt in range(2):  # checkpoints after every batch: a kill lands in, before or after a write
        process = _livecmd_train(*_mini_args(mini.root, out, 200, "--checkpoint-minutes", "0", *(["--resume"] if attempt else [])))
        wait_for(out / "last.safetensors", process)
        time.sleep(rng.uniform(0.2, 1.0))
        process.kill()
        process.communicate()
        state = checkpoint.load(out / "last.safetensors").state
        assert 0 <= state["step"] <= 10
    finish = state["epoch"] + 1
    process = _livecmd_train(*_mini_args(mini.root, out, finish, "--resume"))
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert [row["epoch"] for row in _log(out)] == list(range(1, finish + 1))


def test_a_loss_that_is_not_finite_stops_with_a_clear_message_and_no_weights(tmp_path: Path) -> None:
    mini = minidata.speech_release(tmp_path / "speech_commands")
    out = tmp_path / "run"
    with pytest.raises(LivecmdError, match="loss is not finite at epoch 1") as error:
        train(_config("speech", mini.root, out, optimizer="sgd", lr=1e10, batch_size=4))
    assert "lower --lr" in str(error.value)
    assert not (out / "best.safetensors").exists() and not (out / "last.safetensors").exists()


def test_init_fine_tunes_from_weights_and_refuses_weights_for_other_classes(tmp_path: Path, monkeypatch, capsys) -> None:
    mini = minidata.speech_release(tmp_path / "speech_commands")
    first = tmp_path / "first"
    train(_config("speech", mini.root, first, epochs=3))
    start = load_file(first / "best.safetensors")
    tuned = tmp_path / "tuned"
    train(_config("speech", mini.root, tuned, epochs=1, lr=1e-12, init=first / "best.safetensors"))
    after = load_file(tuned / "best.safetensors")
    torch.manual_seed(0)  # the random draw the tuned run would have started from without --init
    fresh = build_model("speech", "samplecnn", n_labels=len(index("speech", mini.root).labels)).state_dict()
    convs = [k for k, v in start.items() if k.endswith("weight") and v.dim() == 3]
    assert convs and all(torch.allclose(after[k], start[k], atol=1e-6) for k in convs)  # lr 1e-12: unchanged
    assert any((start[k] - fresh[k]).abs().max() > 1e-3 for k in convs)  # and not the random draw
    assert weights.read_meta(tuned / "best.safetensors").extra["recipe"]["init"] == str(first / "best.safetensors")

    other = minidata.speech_release(tmp_path / "other_words", words=("yes", "no", "left", "bed"))
    code, out, err = run_cli(["train", *_mini_args(other.root, tmp_path / "other-run", 1, "--init", str(first / "best.safetensors"))], monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "has the labels" in err and "fine-tune on data with the same classes" in err
    assert not (tmp_path / "other-run" / "last.safetensors").exists()


def test_kept_epochs_average_into_weights_that_load_and_refuse_another_model(tmp_path: Path, monkeypatch, capsys) -> None:
    from train.average import main as average_main

    mini = minidata.speech_twelve(tmp_path / "test_set")
    run = tmp_path / "run"
    stream_like = ("--optimizer", "adamw", "--keep-epochs", "--shift-ms", "1000", "--whole-words", "--cut-words", "0.3")
    code, out, err = run_cli(["train", *_mini_args(mini.root, run, 3, *stream_like)], monkeypatch, capsys)
    assert code == 0, err
    assert out.splitlines()[-1].startswith(f"livecmd train: weights in {run / 'best.safetensors'} ")  # said last
    kept = [run / f"epoch-{n}.safetensors" for n in (1, 2, 3)]
    assert [weights.read_meta(p).metrics["epoch"] for p in kept] == [1, 2, 3]
    recipe = weights.read_meta(kept[0]).extra["recipe"]
    assert (recipe["shift_ms"], recipe["whole_words"], recipe["cut_words"]) == (1000.0, True, 0.3)
    states = [load_file(p) for p in kept]
    assert any((states[0][k] - states[2][k]).abs().max() > 1e-4 for k in states[0])  # the epochs differ

    out = tmp_path / "mean.safetensors"
    assert average_main([str(out), *map(str, kept)]) == 0
    mean = load_file(out)
    for key, value in mean.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, sum(s[key] for s in states) / 3, rtol=1e-5, atol=1e-6)
    meta = weights.load(out).meta
    assert meta.extra["averaged"] == [p.name for p in kept] and meta.metrics == {}  # the epochs' figures are not the mean's

    other = minidata.speech_twelve(tmp_path / "other_words", commands=("yes", "no", "left"))
    train(_config("speech", other.root, tmp_path / "other-run", epochs=1))
    assert average_main([str(tmp_path / "bad.safetensors"), str(kept[0]), str(tmp_path / "other-run" / "best.safetensors")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not the same model" in err
    assert not (tmp_path / "bad.safetensors").exists()


def test_shift_whole_word_and_cut_word_options_set_the_augmentation() -> None:
    from train.augment import Augmentation
    from train.fit import augmentation_for

    default = augmentation_for(_config("speech", Path("data"), Path("run")))
    assert default == Augmentation()  # 100 ms of a 16,000-sample window: the recipe's 0.1
    assert augmentation_for(_config("speech", Path("data"), Path("run"), shift_ms=250.0)).max_shift == pytest.approx(0.25)
    assert augmentation_for(_config("speech", Path("data"), Path("run"), shift_ms=0.0)).max_shift == 0.0
    stream_like = augmentation_for(_config("speech", Path("data"), Path("run"), whole_words=True, cut_words=0.2, speed=0.15, room=0.5))
    assert stream_like.whole_words and stream_like.cut_words == 0.2 and stream_like.speed == 0.15 and stream_like.room == 0.5


def test_quiet_db_plays_windows_as_soft_as_a_far_microphone() -> None:
    from train.augment import augment
    from train.fit import augmentation_for

    word = (0.1 * np.sin(np.linspace(0, 2000, 16000))).astype(np.float32)

    def levels_db(config: object) -> np.ndarray:
        settings = augmentation_for(config)
        rng = np.random.default_rng(0)
        out = [augment(word, rng, [], settings) for _ in range(300)]
        return np.array([20 * np.log10(np.sqrt(np.mean(x**2)) / np.sqrt(np.mean(word**2))) for x in out])

    default = levels_db(_config("speech", Path("data"), Path("run"), shift_ms=0.0))  # no shift: the level is the gain's alone
    quiet = levels_db(_config("speech", Path("data"), Path("run"), shift_ms=0.0, quiet_db=36.0))
    assert -12.01 < default.min() < -11 and default.max() < 6.01  # the recipe's -12 to +6 dB
    assert -36.01 < quiet.min() < -34 and quiet.max() > 5 and np.mean(quiet < -12) > 0.5


def test_a_finished_run_is_not_overwritten_without_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.safetensors").write_bytes(b"x")
    with pytest.raises(LivecmdError, match="already holds a run"):
        train(_config("speech", tmp_path / "unused", out))


# -- DistributedDataParallel -----------------------------------------------------------------------


@TORCHRUN
def test_torchrun_trains_with_two_gloo_processes_into_one_run(tmp_path: Path) -> None:
    mini = minidata.speech_release(tmp_path / "speech_commands")
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "livecmd", "train",
               *_mini_args(mini.root, out, 2), "--device", "cpu"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "x 2 process(es) with DDP," in result.stdout and "lr 0.02 (2 x 0.01, --lr-scale linear)" in result.stdout
    assert [row["lr"] for row in _log(out)] == [0.02, 0.02]  # two batches a step: twice the paper's lr
    assert result.stdout.count("epoch 2/2") == 1  # rank 0 speaks for both
    assert [(row["epoch"], row["processes"]) for row in _log(out)] == [(1, 2), (2, 2)]
    state = checkpoint.load(out / "last.safetensors")
    assert state.state["epoch"] == 2 and all(torch.isfinite(v).all() for v in state.model.values() if v.is_floating_point())
    weights.load(out / "best.safetensors")


@TORCHRUN
def test_torchrun_with_one_process_still_trains_through_ddp(tmp_path: Path) -> None:
    mini = minidata.speech_release(tmp_path / "speech_commands")
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "-m", "livecmd", "train",
               *_mini_args(mini.root, out, 1), "--device", "cpu"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "x 1 process(es) with DDP," in result.stdout and "--lr-scale" not in result.stdout  # one process: the lr as given
    assert [row["lr"] for row in _log(out)] == [0.01]


# -- the product command at the paper's input lengths ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("domain", ["speech", "mtat", "dcase"])
def test_cli_trains_and_evaluates_at_the_paper_s_input_length(tmp_path: Path, domain: str) -> None:
    build = {"speech": lambda r: minidata.speech_release(r, speakers=6),
             "mtat": lambda r: minidata.mtat(r, per_folder=1),
             "dcase": lambda r: minidata.dcase(r, train_clips=12, held=2, test_clips=3)}[domain]
    root = build(tmp_path / domain).root
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["--domain", domain, "--data", str(root), "--cache", str(tmp_path / "cache")]
    result = subprocess.run([sys.executable, "-m", "livecmd", "train", *common, "--epochs", "1", "--out", str(out),
                             "--workers", "1"], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert "skipped 1 missing and 1 broken files" in result.stdout
    meta = weights.read_meta(out / "best.safetensors")
    assert meta.input_samples == get_domain(domain).input_samples
    result = subprocess.run([sys.executable, "-m", "livecmd", "eval", *common, "--weights", str(out / "best.safetensors"),
                             "--json"], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["domain"] == domain and report["clips"] > 0
    assert get_domain(domain).metric in report and np.isfinite(report[get_domain(domain).metric] or 0.0)
