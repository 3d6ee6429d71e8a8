"""Every CUDA path of livecmd, checked and measured in one command of at most 5 minutes on one GPU.

    python benchmarks/gpu_check.py [--weights W] [--doc docs/performance.md] [--no-write]

1. scores: the CUDA torch engine against the CPU's fp32 forward on every 100-ms window of
   examples/demo.wav (26 s of real speech): fp32 with TF32 off (must agree to 1e-4), fp32 as
   `listen` runs it (cuDNN's default TF32), bf16 and fp16 autocast; max |score difference|, top
   labels that agree, and whether listen's detections are the same.
2. `listen --fast --device cuda`, the real CLI, at hops 10 / 50 / 100 ms (the demo tiled to 2 min).
3. batched: the CUDA engine alone, batch sizes × CUDA streams, fp32 as listen runs it and bf16.
4. real time: `listen --device cuda` paced as a microphone for 15 s per hop: latency p50 / p99.
5. training: the train step of benchmarks/train_speed.py per domain and arch, `--amp auto`,
   batch 23, cuDNN autotuned as train/fit.py runs it; against the 2-core CPU's figures.
6. torchrun: `torchrun --nproc_per_node 1 -m livecmd train` on a miniature Speech Commands
   (NCCL, DDP, SyncBatchNorm, bf16), then `--resume` under fp16 (a loss scale starting fresh).
Peak GPU memory is reported per in-process measurement.

Prints each table as it goes and a verdict against the targets (≥ 20,000 windows/s batched,
p99 < 3 ms per hop, training ≥ 5× the 2-core CPU), then rewrites only the "## GPU" section of
docs/performance.md (`--no-write` to leave it). A section that fails is reported and the others
still run; the exit status is 1 when a check failed. Without CUDA: one line, exit 2.

On a lent H200 (its python3 has torch, rich, typer, scipy, scikit-learn and safetensors, but not
soundfile or soxr): carry cp312 manylinux x86_64 wheels of soundfile, cffi, pycparser and soxr in
an ignored `.whl/` (/work/.library/device/README.md says how), then run
`python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export
PYTHONPATH=/tmp/site; PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py; cp docs/performance.md $OUT/`
with a timeout of 420 s, and commit the returned docs/performance.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCHMARKS))

SECTION = "## GPU"
DEMO = ROOT / "examples" / "demo.wav"
HOPS_MS = (10.0, 50.0, 100.0)
BATCHES = (1, 16, 64, 256)
STREAMS = (1, 2, 4)
REALTIME_S = 15.0
TARGETS = {"windows_per_s": 20_000.0, "p99_ms": 3.0, "train_speedup": 5.0}
# Training samples/s of the 2-core dev box (docs/performance.md, "Training"): SampleCNN bf16 on
# 2 threads; ReSE-2-Multi bf16 on 1 thread, the only figure measured for it.
CPU_SAMPLES_PER_S = {("samplecnn", "speech"): 66.0, ("samplecnn", "mtat"): 15.5, ("samplecnn", "dcase"): 40.6,
                     ("rese2multi", "speech"): 15.7, ("rese2multi", "mtat"): 4.1, ("rese2multi", "dcase"): 10.0}


def replace_section(text: str, heading: str, body: str) -> str:
    """Markdown `text` with the section that starts at the line beginning with `heading` (e.g.
    "## GPU") replaced by `body` (which starts with its own heading line), up to the next
    heading of the same or a higher level; `body` is appended when there is no such section.
    Everything outside the section is kept byte for byte."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines(keepends=True)
    body = body.rstrip("\n") + "\n"
    start = next((i for i, line in enumerate(lines) if line.startswith(heading)), None)
    if start is None:
        gap = "" if not text else "\n" if text.endswith("\n") else "\n\n"
        return text + gap + body
    ends = (i for i in range(start + 1, len(lines)) if re.match(rf"#{{1,{level}}} ", lines[i]))
    end = next(ends, len(lines))
    return "".join(lines[:start]) + body + ("\n" if end < len(lines) else "") + "".join(lines[end:])


class Report:
    """Tables, notes and failures as the checks go: printed at once, and as markdown for the doc."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(width=200)
        self.parts: list[str] = []
        self.failures: list[str] = []
        self.measured: dict[str, float] = {}

    def note(self, text: str) -> None:
        self.console.print(text, soft_wrap=True, highlight=False)
        self.parts.append(text)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        from rich.table import Table

        shown = Table(title=title)
        for column in columns:
            shown.add_column(column, justify="left" if column == columns[0] else "right")
        for row in rows:
            shown.add_row(*row)
        self.console.print(shown)
        lines = [f"{title}:", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        self.parts.append("\n".join(lines))

    def section(self, name: str, check: Callable[[Report], None]) -> None:
        """Run one check; a failure is recorded with its reason and the next check still runs."""
        started = time.perf_counter()
        try:
            check(self)
        except (Exception, SystemExit) as e:  # listen_speed.run raises SystemExit for a failed process
            reason = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
            self.failures.append(f"{name}: {reason}")
            self.note(f"**{name} failed**: {reason}")
            traceback.print_exc()
        self.console.print(f"[dim]{name}: {time.perf_counter() - started:.0f} s[/dim]")

    def markdown(self, command: str, machine: str) -> str:
        head = [f"{SECTION} (`{command}`)", "", f"Machine: {machine}.", ""]
        return "\n".join(head) + "\n\n".join(self.parts) + "\n"


# -- 1. scores -------------------------------------------------------------------------------------


def score_modes() -> list[tuple[str, Callable, torch.dtype | None]]:
    """(name, math-mode context, autocast dtype or None) of each way the engine is compared."""
    from livecmd.compute import exact_fp32

    return [("fp32, TF32 off", exact_fp32, None), ("fp32, cuDNN default (TF32; as listen runs)", nullcontext, None),
            ("bf16 autocast", nullcontext, torch.bfloat16), ("fp16 autocast", nullcontext, torch.float16)]


def check_scores(report: Report, loaded, wave: np.ndarray, device: torch.device, modes: Sequence | None = None) -> None:
    from listen_speed import detections, scores_of, windows_of

    from livecmd.compute import exact_fp32
    from livecmd.domains import SAMPLE_RATE, get_domain
    from livecmd.models import probabilities
    from livecmd.stream.engine import TorchEngine

    meta = loaded.meta
    multi_label = get_domain(meta.domain).multi_label
    hop = SAMPLE_RATE // 10
    windows = windows_of(wave, meta.input_samples, hop)
    ends = meta.input_samples + hop * np.arange(len(windows))
    cpu_model = loaded.model.to("cpu").eval()
    with torch.inference_mode():
        cpu = np.concatenate([probabilities(cpu_model(torch.from_numpy(windows[i : i + 64])), multi_label).numpy()
                              for i in range(0, len(windows), 64)])
    expected = detections(cpu, ends, meta)
    engine = TorchEngine(copy.deepcopy(loaded.model), device, multi_label, meta.input_samples, len(meta.labels), 64)
    rows = []
    for name, math_mode, dtype in modes or score_modes():
        with math_mode(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            scores = scores_of(engine, windows, 64)
        got = detections(scores, ends, meta)
        diff = float(np.abs(scores - cpu).max())
        rows.append([name, f"{diff:.1e}", f"{(scores.argmax(1) == cpu.argmax(1)).mean():.2%}", str(got == expected),
                     str(len(set(got) ^ set(expected)))])
        if dtype is None and math_mode is exact_fp32 and diff > 1e-4:
            report.failures.append(f"scores: fp32 with TF32 off differs from the CPU by {diff:.1e} (> 1e-4)")
    report.table(f"the {device.type} engine against the CPU's fp32 forward: {len(windows)} windows every 100 ms, "
                 f"{len(expected)} CPU detections", ("mode", "max abs score diff", "top label agrees", "same detections",
                                                     "differing detections"), rows)


# -- 2. listen --fast, 4. real time --------------------------------------------------------------


def check_fast(report: Report, clip: Path, path: Path, device: torch.device) -> None:
    from listen_speed import listen_args, run, summary

    rows = []
    for hop in HOPS_MS:
        result = run(listen_args(clip, path, hop, "--fast", device=device.type))
        s = summary(result)
        rows.append([f"{hop:g} ms", s["engine"], s["windows"], s["rate"], f"{result.wall_s:.1f}"])
        report.measured[f"fast_{hop:g}"] = float(s["rate"])
    report.table(f"`listen --fast --device {device.type}` on {clip.name} ({_seconds(clip):.0f} s)",
                 ("hop", "engine", "windows", "windows/s", "process wall s"), rows)


def check_realtime(report: Report, clip: Path, path: Path, device: torch.device, seconds: float = REALTIME_S) -> None:
    from listen_speed import listen_args, run, summary

    rows = []
    for hop in HOPS_MS:
        s = summary(run(listen_args(clip, path, hop, "--duration", f"{seconds:g}", device=device.type)))
        rows.append([f"{hop:g} ms", s["engine"], s["windows"], s["p50"], s["p99"], s["dropped"]])
        report.measured[f"p99_{hop:g}"] = float(s["p99"])
    report.table(f"real time: `listen --device {device.type}` paced as a microphone, {seconds:g} s per hop",
                 ("hop", "engine", "windows", "latency p50 ms", "p99 ms", "dropped s"), rows)


def _seconds(clip: Path) -> float:
    import soundfile as sf

    return sf.info(clip).duration


# -- 3. batched -------------------------------------------------------------------------------------


def check_batched(report: Report, loaded, wave: np.ndarray, device: torch.device, seconds: float,
                  batches: Sequence[int] = BATCHES, streams: Sequence[int] = STREAMS) -> None:
    from listen_speed import rate_of, windows_of

    from livecmd.domains import get_domain
    from livecmd.stream.engine import TorchEngine

    meta = loaded.meta
    windows = windows_of(np.tile(wave, 2), meta.input_samples, 160)  # every 10 ms: plenty of distinct windows
    rows = []
    for dtype in (None, torch.bfloat16):
        for batch in batches:
            row = ["bf16 autocast" if dtype else "fp32 (listen)", str(batch)]
            peak = 0
            for slots in streams:
                _reset_peak(device)
                engine = TorchEngine(copy.deepcopy(loaded.model), device, get_domain(meta.domain).multi_label,
                                     meta.input_samples, len(meta.labels), max_batch=batch, slots=slots)
                with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                    rate = rate_of(engine, windows, batch, seconds)
                peak = max(peak, _peak(device))
                row.append(f"{rate:,.0f}")
                report.measured["batched"] = max(report.measured.get("batched", 0.0), rate)
            rows.append(row + [f"{peak / 2**20:,.0f}"])
    report.table("the CUDA engine alone: windows/s by batch and CUDA streams (TorchEngine slots)",
                 ("precision", "batch", *(f"{s} stream{'s' if s > 1 else ''}" for s in streams), "peak GPU MB"), rows)


# -- 5. training ------------------------------------------------------------------------------------


def check_training(report: Report, device: torch.device, steps: int, domains: Sequence[str] | None = None) -> None:
    from train_speed import data_rate, step_rate

    from livecmd.domains import DOMAINS
    from livecmd.models import ARCHS
    from train import precision

    dtype = precision.autocast_dtype(device, "auto")
    torch.backends.cudnn.benchmark = device.type == "cuda"  # as train/fit.py runs on a GPU
    rows, speedups = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ARCHS:
            for name in domains or DOMAINS:
                domain = DOMAINS[name]
                _reset_peak(device)
                rate = step_rate(domain, arch, device, dtype, 23, steps)
                peak = _peak(device)
                speedup = rate / CPU_SAMPLES_PER_S[arch, name]
                speedups.append(speedup)
                data = data_rate(domain, Path(tmp)) if arch == "samplecnn" else None  # the same data for both
                rows.append([f"{arch} {name}", f"{rate:,.0f}", f"{speedup:,.0f}×", f"{peak / 2**20:,.0f}",
                             f"{data:,.0f}" if data is not None else "–"])
    report.measured["train_speedup"] = min(speedups)
    report.table(f"training step, batch 23, {precision.name(dtype)} (`--amp auto`), the paper's input lengths",
                 ("model", "samples/s", "× 2-core CPU", "peak GPU MB", "data windows/s per loader worker"), rows)


# -- 6. torchrun ------------------------------------------------------------------------------------


def check_torchrun(report: Report, device: torch.device, input_samples: int = 16_000) -> None:
    from listen_speed import run

    from tests import minidata

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = minidata.speech_release(Path(tmp) / "speech_commands", speakers=24).root
        out = Path(tmp) / "run"
        common = ["--domain", "speech", "--data", str(data), "--out", str(out), "--cache", str(Path(tmp) / "cache"),
                  "--workers", "2", "--device", device.type, "--input-samples", str(input_samples)]
        # On a GPU: NCCL, SyncBatchNorm, and the resume that once crashed (bf16, no loss scale, then fp16).
        # On a CPU (the script's own test): gloo, no SyncBatchNorm (CUDA only), fp32 then bf16.
        cuda = device.type == "cuda"
        sync = ("--sync-bn",) if cuda else ()
        first, then = ("bf16", "fp16") if cuda else ("off", "bf16")
        change = f"precision changes on resume: {'bf16' if cuda else 'fp32'} before, {then} now"
        for what, extra in ((f"{'NCCL' if cuda else 'gloo'}, DDP{', SyncBatchNorm' if cuda else ''}, {first}", ("--epochs", "1", *sync, "--amp", first)),
                            (f"--resume under {then}", ("--epochs", "2", *sync, "--amp", then, "--resume"))):
            result = run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "-m", "livecmd", "train", *common, *extra])
            last = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]
            started = next((line for line in result.stdout.splitlines() if line.startswith(("training", "resuming"))), "")
            rows.append([what, f"{result.wall_s:.0f}", str(last["epoch"]), f"{last['samples_per_s']:,.0f}",
                         f"{last['valid']['accuracy']:.2f}", "DDP" if "with DDP" in result.stdout else "no DDP",
                         "yes" if change in result.stdout else "–"])
            if not started:
                report.failures.append(f"torchrun {what}: no start line in its output")
    report.table(f"`torchrun --nproc_per_node 1 -m livecmd train` on a miniature Speech Commands ({input_samples:,}-sample windows, batch 23)",
                 ("run", "process wall s", "epochs", "samples/s", "valid accuracy", "path", "precision change said"), rows)


# -- the verdict and the doc ------------------------------------------------------------------------


def verdict(report: Report) -> None:
    m = report.measured
    rows = []
    if "batched" in m:
        rows.append(["batched windows/s", f"≥ {TARGETS['windows_per_s']:,.0f}", f"{m['batched']:,.0f}", _met(m["batched"] >= TARGETS["windows_per_s"])])
    for hop in HOPS_MS:
        if f"p99_{hop:g}" in m:
            rows.append([f"p99 latency, {hop:g} ms hop", f"< {TARGETS['p99_ms']:g} ms", f"{m[f'p99_{hop:g}']:g} ms", _met(m[f"p99_{hop:g}"] < TARGETS["p99_ms"])])
    if "train_speedup" in m:
        rows.append(["training, slowest model × 2-core CPU", f"≥ {TARGETS['train_speedup']:g}×", f"{m['train_speedup']:,.0f}×",
                     _met(m["train_speedup"] >= TARGETS["train_speedup"])])
    report.table("targets (issue 16)", ("what", "target", "measured", "met"), rows)
    if report.failures:
        report.note("Failed checks: " + "; ".join(report.failures))


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device: torch.device) -> int:
    """Peak bytes the caching allocator handed out since the last reset (0 off CUDA)."""
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def machine() -> str:
    from livecmd.compute import cpu_name

    gpu = torch.cuda.get_device_properties(0)
    return (f"{gpu.name} ({gpu.total_memory / 2**30:.0f} GiB, {gpu.multi_processor_count} SMs), CUDA {torch.version.cuda}, "
            f"cuDNN {torch.backends.cudnn.version()}, torch {torch.__version__}; {cpu_name()}, {os.cpu_count()} cores")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, help="speech weights (default: the shipped ones)")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "performance.md", help="the doc whose GPU section to rewrite")
    parser.add_argument("--no-write", action="store_true", help="print only; leave the doc as it is")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per batched throughput figure")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per model")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_check: torch sees no CUDA GPU here; run it on a machine with one", file=sys.stderr)
        return 2

    import soundfile as sf

    from livecmd import audio, weights

    report = Report()
    command = "python benchmarks/gpu_check.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    report.console.print(f"command: {command}\nmachine: {machine()}", highlight=False)
    path = args.weights or weights.shipped("speech")
    loaded = weights.load(path, torch.device("cpu"))
    wave = audio.load(DEMO)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        long_clip = Path(tmp) / "demo-2min.wav"
        sf.write(long_clip, np.resize(wave, 120 * 16_000), 16_000)
        cuda = torch.device("cuda")
        report.section("scores", lambda r: check_scores(r, loaded, wave, cuda))
        report.section("listen --fast", lambda r: check_fast(r, long_clip, path, cuda))
        report.section("batched", lambda r: check_batched(r, loaded, wave, cuda, args.seconds))
        report.section("real time", lambda r: check_realtime(r, DEMO, path, cuda))
        report.section("training", lambda r: check_training(r, cuda, args.steps))
        report.section("torchrun", lambda r: check_torchrun(r, cuda))
    verdict(report)
    report.note(f"All checks: {time.perf_counter() - started:.0f} s.")
    if not args.no_write:
        doc = args.doc
        doc.write_text(replace_section(doc.read_text() if doc.is_file() else "", SECTION, report.markdown(command, machine())))
        report.console.print(f"wrote the GPU section of {doc}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
