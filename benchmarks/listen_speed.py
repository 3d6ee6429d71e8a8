"""Speed of `livecmd listen` on a CPU: windows/s through `listen --fast` against the naive
forward, decisions against the naive path, real-time latency, peak memory.

    python benchmarks/listen_speed.py [--weights W] [--input CLIP] [--hops 10,50,100]
        [--engines auto] [--repeats 3] [--realtime-hops 10] [--levers]

- Throughput: the real CLI in a subprocess, `livecmd listen --input CLIP --fast --json
  --hop-ms H`, its own figure (windows over the loop's wall time; start-up, the model load and
  warm-up excluded, and reported apart as the process's wall time). Against the naive forward
  in a subprocess of its own, default settings: `model(torch.from_numpy(window)[None])` in a
  plain loop under `torch.inference_mode()`, fp32, batch 1, torch's default threads and
  malloc; and the same with one thread. Interleaved: each repetition runs the naive forwards
  then every hop, so a neighbour's load hits both; medians and ratios are printed.
- Decisions: the clip's windows at the cached engine's hop scored by the naive forward and by
  each fast engine in this process: max score difference, windows whose top label agrees,
  and whether the detections (listen's default smoothing, threshold, refractory time) are
  the same.
- Real time: `livecmd listen --input CLIP --json --hop-ms H` paced as a microphone: latency
  p50/p99 from a window's last sample arriving to its decision, audio dropped.
- Peak RSS of each listen process (its VmHWM, read while it runs).
- `--levers`: each engine alone in this process on the same windows (batch 1 and 16, threads,
  bf16, ONNX Runtime when installed, torch.compile), the figures behind the engine's choices.

The clip is --input, or 2 minutes built from ../shared/data: Speech Commands test clips every
1.2-2.4 s and a LibriSpeech sentence over real background noise. Prints the command and the
machine first; nothing is written outside a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livecmd import audio, weights  # noqa: E402
from livecmd.domains import SAMPLE_RATE, get_domain  # noqa: E402
from livecmd.errors import LivecmdError  # noqa: E402
from livecmd.models import build_model, probabilities  # noqa: E402
from livecmd.stream import folded as fd  # noqa: E402
from livecmd.stream.decide import DecideSettings, Decider  # noqa: E402
from livecmd.stream.engine import TorchEngine, engine_hop, keep_heap  # noqa: E402
from livecmd.compute import cpu_has_bf16, cpu_name  # noqa: E402
from livecmd.stream.overlap import FoldedEngine  # noqa: E402

DATA = Path(os.environ.get("LIVECMD_SHARED", ROOT.parent / "shared")) / "data"
SPEECH = DATA / "speech_commands_test_set_v0.02_part_a"
NAIVE_SECONDS = 10.0
"""The naive forward runs this long at most (it crawls when its two threads share a busy box)."""

NAIVE = """
import sys, time
import numpy as np, soundfile as sf, torch
from livecmd import weights
path, clip, threads, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
if threads:
    torch.set_num_threads(threads)
model = weights.load(path, torch.device("cpu")).model
wave = sf.read(clip, dtype="float32")[0]
n = weights.read_meta(path).input_samples
windows = [wave[end - n : end] for end in range(n, len(wave) + 1, 1600)]  # every 100 ms
with torch.inference_mode():
    model(torch.from_numpy(windows[0])[None])  # lazy initialisation, as listen's warm-up
    count, started = 0, time.perf_counter()
    for window in windows[1:]:
        model(torch.from_numpy(window)[None])
        count += 1
        if time.perf_counter() - started > seconds:
            break
    print(count / (time.perf_counter() - started))
"""


@dataclass(frozen=True)
class Run:
    """One process: what it printed and what it cost."""

    stdout: str
    stderr: str
    wall_s: float
    peak_rss_mb: float


def run(args: list[str]) -> Run:
    """Run a command to its end; its output, wall time and peak resident memory (VmHWM, read
    while it runs: wait4's ru_maxrss would count this process's memory, which the child held
    between fork and exec)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(args, stdout=out, stderr=err, text=True, cwd=ROOT)
        peak_kb = 0
        while process.poll() is None:
            peak_kb = max(peak_kb, _high_water_kb(process.pid))
            time.sleep(0.05)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        result = Run(out.read(), err.read(), wall, peak_kb / 1024)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({process.returncode}):\n{result.stderr}")
    return result


def _high_water_kb(pid: int) -> int:
    """The process's peak resident memory so far, in kB (0 when it cannot be read)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else 0


def machine() -> str:
    cpu = cpu_name()
    units = "bf16 matrix units (AMX/AVX512-BF16)" if cpu_has_bf16() else "no bf16 matrix units"
    load = "load average %.2f %.2f %.2f" % os.getloadavg()
    return f"{cpu}, {os.cpu_count()} cores, {units}, torch {torch.__version__}; {load} at the start"


def speech_clip(seconds: float, seed: int = 0) -> np.ndarray:
    """`seconds` of real speech at 16 kHz: Speech Commands v0.02 test clips (the 10 commands
    and _unknown_ words) every 1.2-2.4 s, 10 s of a LibriSpeech sentence in the middle, over
    the test set's real background noise."""
    if not SPEECH.is_dir():
        raise LivecmdError(f"no real speech at {SPEECH}: pass a clip with --input")
    rng = random.Random(seed)
    noise = sorted((SPEECH / "_silence_").glob("*.wav"))
    words = sorted(p for p in SPEECH.glob("*/*.wav") if p.parent.name != "_silence_")
    n = round(seconds * SAMPLE_RATE)
    wave = 0.3 * np.resize(np.concatenate([audio.load(p) for p in rng.sample(noise, min(len(noise), 200))]), n)
    sentences = sorted((DATA / "speech_other" / "librispeech").glob("*.ogg"))
    t, sentence_at = 0.5, seconds / 2 if sentences else None
    while t < seconds - 1.5:
        if sentence_at is not None and t >= sentence_at:
            part, sentence_at = audio.load(sentences[0])[: 10 * SAMPLE_RATE], None
        else:
            part = audio.load(rng.choice(words))
        at = round(t * SAMPLE_RATE)
        wave[at : at + len(part)] += part[: n - at]
        t += len(part) / SAMPLE_RATE + rng.uniform(0.2, 1.4)
    return wave.astype(np.float32)


def listen_args(clip: Path, path: Path, hop_ms: float, *extra: str, device: str = "cpu") -> list[str]:
    return [sys.executable, "-m", "livecmd", "listen", "--input", str(clip), "--weights", str(path), "--json",
            "--device", device, "--hop-ms", f"{hop_ms:g}", *extra]


SUMMARY = re.compile(r"(?P<windows>\d+) windows \((?P<rate>\d+)/s\), (?P<detections>\d+) detections?, "
                     r"latency p50 (?P<p50>[\d.]+) ms p99 (?P<p99>[\d.]+) ms, dropped (?P<dropped>[\d.]+) s; (?P<device>[^,]+), (?P<engine>.+) engine")


def summary(result: Run) -> dict[str, str]:
    match = SUMMARY.search(result.stderr)
    if match is None:
        raise SystemExit(f"no summary line in:\n{result.stderr}")
    return match.groupdict()


def throughput(clip: Path, path: Path, hops: list[float], engines: list[str], repeats: int, console: Console) -> None:
    naive: dict[str, list[float]] = {"default": [], "1 thread": []}
    fast: dict[tuple[float, str], list[tuple[dict[str, str], Run]]] = {(h, e): [] for h in hops for e in engines}
    for repeat in range(repeats):
        for name, threads in (("default", 0), ("1 thread", 1)):
            naive[name].append(float(run([sys.executable, "-c", NAIVE, str(path), str(clip), str(threads), str(NAIVE_SECONDS)]).stdout))
        for hop in hops:
            for engine in engines:
                result = run(listen_args(clip, path, hop, "--fast", "--engine", engine))
                fast[hop, engine].append((summary(result), result))
        console.print(f"repetition {repeat + 1}/{repeats}: naive {naive['default'][-1]:.0f} (1 thread {naive['1 thread'][-1]:.0f}) windows/s; "
                      + ", ".join(f"{e} {h:g} ms {fast[h, e][-1][0]['rate']}/s" for h in hops for e in engines))
    base = {name: statistics.median(rates) for name, rates in naive.items()}
    table = Table(title=f"listen --fast against the naive forward (medians of {repeats}; naive: default {base['default']:.0f}, "
                        f"1 thread {base['1 thread']:.0f} windows/s, each run {', '.join(f'{r:.0f}' for r in naive['default'])} / "
                        f"{', '.join(f'{r:.0f}' for r in naive['1 thread'])})")
    for column in ("hop", "engine", "windows", "windows/s", "× naive", "× naive 1 thread", "process wall s", "peak RSS MB", "detections"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    for (hop, engine), runs in fast.items():
        rate = statistics.median(float(s["rate"]) for s, _ in runs)
        table.add_row(f"{hop:g} ms", runs[0][0]["engine"] + ("" if engine == "auto" else f" (--engine {engine})"), runs[0][0]["windows"],
                      f"{rate:.0f}", f"{rate / base['default']:.1f}", f"{rate / base['1 thread']:.1f}",
                      f"{statistics.median(r.wall_s for _, r in runs):.1f}", f"{max(r.peak_rss_mb for _, r in runs):.0f}", runs[0][0]["detections"])
    console.print(table)


def realtime(clip: Path, path: Path, length: int, hops: list[float], console: Console) -> None:
    table = Table(title="real time (the clip paced as a microphone, 20 ms blocks)")
    for column in ("hop", "engine", "windows", "latency p50 ms", "p99 ms", "p99 / hop", "dropped s", "peak RSS MB"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    for hop in hops:
        result = run(listen_args(clip, path, hop))
        s = summary(result)
        scored_hop = 1000 * engine_hop(s["engine"].split()[0], round(hop * SAMPLE_RATE / 1000), length) / SAMPLE_RATE
        table.add_row(f"{hop:g} ms ({scored_hop:g} scored)", s["engine"], s["windows"], s["p50"], s["p99"],
                      f"{float(s['p99']) / scored_hop:.2f}", s["dropped"], f"{result.peak_rss_mb:.0f}")
    console.print(table)


def windows_of(wave: np.ndarray, length: int, hop: int) -> np.ndarray:
    """The windows listen scores: the clip and a window less a hop of silence, every hop."""
    wave = np.concatenate([wave, np.zeros(length - hop, dtype=np.float32)])
    return np.stack([wave[end - length : end] for end in range(length, len(wave) + 1, hop)])


def scores_of(engine, windows: np.ndarray, batch: int = 16) -> np.ndarray:
    return np.concatenate([engine(windows[i : i + batch]) for i in range(0, len(windows), batch)])


def detections(scores: np.ndarray, ends: np.ndarray, meta: weights.WeightsMeta) -> list[tuple[int, str]]:
    """(end sample, label) of each event listen would fire on these window scores: smoothing 3
    windows, threshold 0.5, refractory 1 s (the settings every decision comparison uses)."""
    multi_label = get_domain(meta.domain).multi_label
    settings = DecideSettings(meta.labels, (0.5,) * len(meta.labels), 3, SAMPLE_RATE, multi_label, SAMPLE_RATE)
    return [(d.end, d.label) for d in Decider(settings).update(ends, scores)[1]]


def decisions(wave: np.ndarray, loaded: weights.Loaded, console: Console) -> None:
    meta, model = loaded.meta, loaded.model
    multi_label = get_domain(meta.domain).multi_label
    hop = engine_hop("cached", SAMPLE_RATE // 10, meta.input_samples)
    windows = windows_of(wave, meta.input_samples, hop)
    ends = meta.input_samples + hop * np.arange(len(windows))
    with torch.inference_mode():
        naive = np.concatenate([probabilities(model(torch.from_numpy(w[None])), multi_label).numpy() for w in windows])
    expected = detections(naive, ends, meta)
    table = Table(title=f"decisions against the naive forward: {len(windows)} windows every {1000 * hop / SAMPLE_RATE:g} ms, "
                        f"{len(expected)} naive detections (smoothing 3 windows, threshold 0.5, refractory 1 s)")
    for column in ("engine", "max |score diff|", "top label agrees", "same detections", "differing detections"):
        table.add_column(column, justify="left" if column in ("engine", "differing detections") else "right")
    for name, dtype, cached in (("cached bf16", torch.bfloat16, True), ("cached fp32", torch.float32, True),
                                ("folded bf16", torch.bfloat16, False), ("folded fp32", torch.float32, False)):
        engine = FoldedEngine(fd.fold(model, meta.input_samples, dtype), multi_label, 16, hop if cached else None)
        scores = scores_of(engine, windows)
        got = detections(scores, ends, meta)
        differing = sorted(set(got) ^ set(expected))
        table.add_row(name, f"{np.abs(scores - naive).max():.1e}", f"{(scores.argmax(1) == naive.argmax(1)).mean():.2%}",
                      str(got == expected), ", ".join(f"{end / SAMPLE_RATE:.2f} s {label}" for end, label in differing) or "–")
    console.print(table)


def rate_of(engine, windows: np.ndarray, batch: int, seconds: float = 4.0) -> float:
    """Windows/s of `engine` alone on consecutive `windows`, `batch` at a time (after one batch of warm-up)."""
    engine(windows[:batch])
    count, started = 0, time.perf_counter()
    for i in range(batch, len(windows) - batch + 1, batch):
        engine(windows[i : i + batch])
        count += batch
        if time.perf_counter() - started > seconds:
            break
    return count / (time.perf_counter() - started)


def levers(wave: np.ndarray, loaded: weights.Loaded, console: Console) -> None:
    """Each engine alone, in this process (heap kept, as listen keeps it)."""
    keep_heap()
    meta, model = loaded.meta, loaded.model
    length = meta.input_samples
    table = Table(title="levers: engines alone on the clip's windows, in this process (heap kept)")
    for column in ("engine", "threads", "hop", "batch 1 windows/s", "batch 16 windows/s"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    engines = [("torch fp32", lambda: TorchEngine(model, torch.device("cpu"), False, length, len(meta.labels)), 1_600)]
    for precision, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        engines.append((f"folded {precision}", lambda dtype=dtype: FoldedEngine(fd.fold(model, length, dtype), False, 16), 1_600))
        for hop in (1_620, 162):
            engines.append((f"cached {precision}", lambda dtype=dtype, hop=hop: FoldedEngine(fd.fold(model, length, dtype), False, 16, hop), hop))
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, make, hop in engines:
            windows = windows_of(wave, length, hop)[:800]
            table.add_row(name, str(threads), f"{1000 * hop / SAMPLE_RATE:g} ms", f"{rate_of(make(), windows, 1):.0f}", f"{rate_of(make(), windows, 16):.0f}")
    torch.set_num_threads(1)
    windows = windows_of(wave, length, 1_600)[:400]
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        table.add_row("torch bf16 autocast (not kept)", "1", "100 ms", f"{rate_of(lambda w: model(torch.from_numpy(w)), windows, 1):.0f}",
                      f"{rate_of(lambda w: model(torch.from_numpy(w)), windows, 16):.0f}")
    onnx = onnx_engine(model, meta)
    if onnx is not None:
        table.add_row("ONNX Runtime fp32 (not kept)", "1", "100 ms", f"{rate_of(onnx, windows, 1):.0f}", f"{rate_of(onnx, windows, 16):.0f}")
    started = time.perf_counter()
    compiled = torch.compile(model)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        compiled(torch.from_numpy(windows[:1]))
        compile_s = time.perf_counter() - started
        table.add_row(f"torch.compile bf16 (not kept; {compile_s:.0f} s to compile)", "1", "100 ms",
                      f"{rate_of(lambda w: compiled(torch.from_numpy(w)), windows, 1):.0f}", "–")
    console.print(table)


def onnx_engine(model: torch.nn.Module, meta: weights.WeightsMeta):
    """The model through ONNX Runtime (one thread), or None when the export extra is missing."""
    try:
        import onnxruntime

        from livecmd.export import to_onnx
    except ImportError:
        return None
    folder = tempfile.mkdtemp()
    path = to_onnx(model, meta, Path(folder) / "model.onnx")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda w: session.run(None, {"waveform": w})[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, help="SampleCNN weights (default: the shipped speech weights, else random ones)")
    parser.add_argument("--input", type=Path, help="the clip (default: 2 minutes of real speech from ../shared/data)")
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the built clip")
    parser.add_argument("--hops", default="10,50,100", help="hops in ms for --fast")
    parser.add_argument("--engines", default="auto", help="engines for --fast, e.g. auto,folded,torch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--realtime-hops", default="10", help="hops in ms for the real-time runs ('' for none)")
    parser.add_argument("--levers", action="store_true", help="also each engine alone (adds a few minutes)")
    args = parser.parse_args()
    console = Console(width=200)
    console.print(f"command: python {' '.join(sys.argv)}")
    console.print(f"machine: {machine()}")
    folder = Path(tempfile.mkdtemp(prefix="listen_speed-"))
    path = args.weights
    if path is None:
        try:
            path = weights.shipped("speech")
        except LivecmdError:
            torch.manual_seed(0)
            meta = weights.WeightsMeta("samplecnn", "speech", ("yes", "no", "_silence_"), SAMPLE_RATE, SAMPLE_RATE, "none: random (speed only)")
            path = weights.save(folder / "random.safetensors", build_model("speech", "samplecnn", n_labels=3), meta)
    loaded = weights.load(path, torch.device("cpu"))
    console.print(f"weights: {path} ({loaded.meta.arch}, {loaded.meta.domain}, {len(loaded.meta.labels)} labels; trained on: {loaded.meta.training_data})")
    if args.input is not None:
        clip, wave = args.input, audio.load(args.input)
    else:
        wave, clip = speech_clip(args.seconds), folder / "speech.wav"
        sf.write(clip, wave, SAMPLE_RATE)
    console.print(f"clip: {clip} ({len(wave) / SAMPLE_RATE:.1f} s)")
    hops = [float(h) for h in args.hops.split(",")]
    throughput(clip, path, hops, args.engines.split(","), args.repeats, console)
    torch.set_num_threads(1)
    decisions(wave, loaded, console)
    if args.realtime_hops:
        realtime(clip, path, loaded.meta.input_samples, [float(h) for h in args.realtime_hops.split(",")], console)
    if args.levers:
        levers(wave, loaded, console)


if __name__ == "__main__":
    main()
