"""A long real-time `livecmd listen` through a virtual microphone: memory, dropped audio, latency.

    python benchmarks/listen_soak.py [--minutes 10] [--settle 60] [--every 5] [--weights W] [--json]

Starts a private virtual microphone (../shared/tools/virtual-mic: a PulseAudio daemon of its
own, in $VMIC_DIR or a temporary folder), loops a clip of two tone words into it, and runs the
real command `python -m livecmd listen --mic pulse --json --duration MINUTES*60` at its default
settings (by default with the tone detector of tests/tones.py: the real SampleCNN speech
network, so the compute is the product's). While it listens, the script samples the process's
resident memory and CPU time every --every seconds and reads each detection's latency.

It passes (exit 0) when:
- resident memory is flat: at most 5% above its size at --settle seconds, for the rest of the run;
- no audio was dropped (the summary line's `dropped 0.00 s`);
- p99 latency is stable: the second half's at most 1.5 x the first half's + 50 ms;
- the recognizer kept hearing: at least 80% of the words played were detected.
Exit 1 when any of these fails, 3 when the virtual microphone cannot start here. The last line
of stdout is the report as JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.tones import save_tone_model, stream, write_clip  # noqa: E402

VMIC = Path(os.environ.get("LIVECMD_SHARED", REPO.parent / "shared")) / "tools" / "virtual-mic"
WORDS = [(1.0, "low"), (3.0, "high")]  # in a clip of CLIP_SECONDS, looped
CLIP_SECONDS = 5.0
MAX_GROWTH_PCT, P99_RATIO, P99_SLACK_MS, HEARD_FRACTION = 5.0, 1.5, 50.0, 0.8


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to listen (default 10)")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds after which memory must stay flat (default 60)")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between memory samples (default 5)")
    parser.add_argument("--weights", type=Path, help="weights file (default: the tone detector of tests/tones.py)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on the last line")
    return parser.parse_args()


def start_vmic(env: dict[str, str]) -> dict[str, str]:
    """Start the private virtual microphone; the environment that reaches it. Exit 3 if it cannot."""
    try:
        setup = subprocess.run([str(VMIC / "setup.sh")], env=env, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        sys.exit(_unavailable(f"the virtual microphone did not start ({e})"))
    if setup.returncode != 0:
        sys.exit(_unavailable(f"the virtual microphone did not start: {(setup.stderr.strip().splitlines() or ['?'])[-1]}"))
    state = env["VMIC_DIR"]
    return {**env, "PULSE_SERVER": f"unix:{state}/pulse/native", "PULSE_COOKIE": f"{state}/cookie"}


def _unavailable(why: str) -> int:
    print(f"listen_soak: {why}", file=sys.stderr)
    return 3


def process_stats(pid: int) -> tuple[float, float]:
    """(resident memory in MB, CPU seconds used so far) of process `pid`, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss_kb / 1024, (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def soak(args: argparse.Namespace, env: dict[str, str], work: Path) -> dict:
    weights = args.weights or save_tone_model(work / "tones.safetensors")
    clip = write_clip(work / "words.wav", stream(WORDS, seconds=CLIP_SECONDS))
    seconds = args.minutes * 60
    command = [sys.executable, "-m", "livecmd", "listen", "--mic", "pulse", "--json", "--duration", f"{seconds:g}",
               "--weights", str(weights), "--device", "cpu"]
    listener = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = listener.stderr.readline()
    if not ready.startswith("livecmd listen: listening to"):
        listener.kill()
        raise SystemExit(f"listen_soak: listen did not start: {ready}{listener.stderr.read()}")
    subprocess.run([str(VMIC / "feed.sh"), "--loop", str(clip)], env=env, check=True, timeout=30)
    fed = time.monotonic()

    events: list[dict] = []
    reader = threading.Thread(target=lambda: events.extend(json.loads(line) for line in listener.stdout), daemon=True)
    reader.start()
    samples: list[tuple[float, float, float]] = []  # (seconds since the feed started, RSS MB, CPU s)
    while listener.poll() is None:
        try:
            samples.append((time.monotonic() - fed, *process_stats(listener.pid)))
        except (OSError, AttributeError):  # it just exited
            break
        time.sleep(args.every)
    played_s = time.monotonic() - fed
    rest = listener.stderr.read()
    listener.wait()
    reader.join(timeout=10)
    subprocess.run([str(VMIC / "feed.sh"), "--stop"], env=env, timeout=30)
    return report(args, listener.returncode, rest, events, samples, played_s)


def report(args: argparse.Namespace, code: int, stderr: str, events: list[dict],
           samples: list[tuple[float, float, float]], played_s: float) -> dict:
    summary = (stderr.strip().splitlines() or [""])[-1]
    dropped = re.search(r"dropped (\d+\.\d+) s", summary)
    settled = [(t, rss) for t, rss, _ in samples if t >= args.settle] or [(samples[-1][0], samples[-1][1])]
    base = settled[0][1]
    growth = 100.0 * (max(rss for _, rss in settled) - base) / base
    cpu = (samples[-1][2] - samples[0][2]) / max(samples[-1][0] - samples[0][0], 1e-9) if len(samples) > 1 else 0.0
    middle = (events[0]["time"] + events[-1]["time"]) / 2 if events else 0.0
    halves = [[e["latency_ms"] for e in events if (e["time"] < middle) == first] for first in (True, False)]
    p99 = [float(np.percentile(h, 99)) if h else float("nan") for h in halves]
    words = int(played_s // CLIP_SECONDS) * len(WORDS) + sum(1 for start, _ in WORDS if played_s % CLIP_SECONDS > start + 0.5)
    result = {
        "minutes": args.minutes, "exit_code": code, "summary": summary,
        "rss_mb_at_settle": round(base, 1), "rss_mb_max_after": round(max(rss for _, rss in settled), 1),
        "rss_growth_pct": round(growth, 2), "rss_mb_samples": [round(rss, 1) for _, rss, _ in samples],
        "cpu_pct_of_a_core": round(100 * cpu, 1),
        "dropped_s": float(dropped.group(1)) if dropped else None,
        "detections": len(events), "words_played": words,
        "p99_ms_first_half": round(p99[0], 1), "p99_ms_second_half": round(p99[1], 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    result["pass"] = bool(
        code == 0 and growth < MAX_GROWTH_PCT and result["dropped_s"] == 0.0
        and len(events) >= HEARD_FRACTION * words and p99[1] <= P99_RATIO * p99[0] + P99_SLACK_MS
    )
    return result


def main() -> None:
    args = parse_args()
    if not (VMIC / "setup.sh").is_file():
        sys.exit(_unavailable(f"the virtual microphone tool is absent ({VMIC})"))
    with tempfile.TemporaryDirectory(prefix="livecmd-soak-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
        env.setdefault("VMIC_DIR", str(work / "vmic"))
        env = start_vmic(env)
        try:
            result = soak(args, env, work)
        finally:
            subprocess.run([str(VMIC / "teardown.sh")], env=env, capture_output=True, timeout=60)
    print(f"listen soak, {args.minutes:g} min real time through the virtual microphone ({result['machine']})")
    print(f"  {result['summary']}")
    print(f"  resident memory: {result['rss_mb_at_settle']} MB at {args.settle:g} s, at most {result['rss_mb_max_after']} MB "
          f"after ({result['rss_growth_pct']:+.2f}%); CPU {result['cpu_pct_of_a_core']}% of a core")
    print(f"  detections {result['detections']} of {result['words_played']} words played; p99 latency "
          f"{result['p99_ms_first_half']} ms (first half), {result['p99_ms_second_half']} ms (second half)")
    print(f"  {'PASS' if result['pass'] else 'FAIL'}")
    if args.json:
        print(json.dumps(result))
    sys.exit(0 if result["pass"] else 1)


if __name__ == "__main__":
    main()
