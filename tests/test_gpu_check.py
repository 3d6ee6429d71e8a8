"""benchmarks/gpu_check.py where there is no GPU: it refuses in one line, its doc rewriting
touches only the GPU section, and each of its checks runs through on the CPU (so the one short
slot on a lent GPU is not spent on a typo)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from livecmd import audio, weights
from tests.conftest import TORCHRUN, load_benchmark

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "gpu_check.py"


def _gpu_check():
    return load_benchmark("gpu_check")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the script would run its checks")
def test_without_cuda_the_check_says_so_in_one_line_and_exits_2(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n")
    result = subprocess.run([sys.executable, str(SCRIPT), "--doc", str(doc)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "no CUDA GPU" in result.stderr
    assert doc.read_text() == "# Performance\n"


def test_the_gpu_section_is_replaced_and_nothing_else_is_touched() -> None:
    replace = _gpu_check().replace_section
    doc = (REPO / "docs" / "performance.md").read_text()
    body = "## GPU (`python benchmarks/gpu_check.py`)\n\nMachine: a GPU.\n\n| a | b |\n|---|---|\n| 1.2345 ms | 2.3456 ms |\n"
    once = replace(doc, "## GPU", body)
    assert once.startswith(doc) and once.endswith(body) and "## GPU" not in doc  # absent: appended
    assert "1.2345 ms" not in doc  # the figures below are the body's alone
    again = replace(once, "## GPU", body.replace("1.2345 ms", "3.4567 ms"))
    assert again == once.replace("1.2345 ms", "3.4567 ms")  # present: replaced in place, once
    middle = "# P\n\nintro\n\n## Training\n\nt\n\n## GPU (old)\n\nold\n\n### detail\n\nold too\n\n## Listen\n\nl\n"
    assert replace(middle, "## GPU", "## GPU\n\nnew\n") == "# P\n\nintro\n\n## Training\n\nt\n\n## GPU\n\nnew\n\n## Listen\n\nl\n"
    assert replace("", "## GPU", "## GPU\nx") == "## GPU\nx\n"


@pytest.mark.slow
@TORCHRUN
def test_every_check_runs_through_on_the_cpu(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    check = _gpu_check()
    cpu = torch.device("cpu")
    path = weights.shipped("speech")
    loaded = weights.load(path, cpu)
    wave = audio.load(check.DEMO)[: 3 * 16_000]
    clip = tmp_path / "clip.wav"
    import soundfile as sf

    sf.write(clip, wave, 16_000)
    report = check.Report()
    modes = check.score_modes()[:3]  # fp16 autocast crawls on a CPU; the same code as bf16's
    report.section("scores", lambda r: check.check_scores(r, loaded, wave, cpu, modes))
    report.section("listen --fast", lambda r: check.check_fast(r, clip, path, cpu))
    report.section("batched", lambda r: check.check_batched(r, loaded, wave, cpu, 0.2, batches=(1, 4), streams=(1, 2)))
    report.section("real time", lambda r: check.check_realtime(r, clip, path, cpu, seconds=1.0))
    report.section("training", lambda r: check.check_training(r, cpu, 1, domains=("speech",)))
    report.section("torchrun", lambda r: check.check_torchrun(r, cpu, input_samples=729))
    check.verdict(report)
    assert report.failures == []
    text = report.markdown("python benchmarks/gpu_check.py", "a CPU")
    assert text.startswith("## GPU (`python benchmarks/gpu_check.py`)")
    for title in ("engine against the CPU's fp32 forward", "listen --fast --device cpu", "windows/s by batch", "paced as a microphone",
                  "training step", "torchrun --nproc_per_node 1", "targets (issue 16)"):
        assert title in text, title
    scores = text.split("fp32, TF32 off | ")[1].split(" |")[0]
    assert float(scores) < 1e-4  # the engine on the CPU gives the forward's scores
    resumed = [line for line in text.splitlines() if line.startswith("| --resume under bf16")]
    assert resumed and resumed[0].endswith("| DDP | yes |")  # trained through DDP and said the precision changed
    assert set(report.measured) >= {"fast_10", "p99_10", "batched", "train_speedup"}
