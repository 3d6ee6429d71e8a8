"""Shared test helpers: where the real audio of ../shared/data lives, and how to skip without it."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("LIVECMD_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"


def pytest_configure(config: pytest.Config) -> None:
    """Tests press Ctrl-C (SIGINT) in the programs they start. A suite run as a shell's
    background job starts with SIGINT ignored, and children inherit an ignore (a handler, reset
    when they start, they do not): take Ctrl-C back, as it is in a terminal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# The suite runs on pytest-xdist workers (pyproject.toml's addopts; `-n 0`: one process): the
# real-time tests mostly wait, so two workers on two cores take 10 minutes where one took 16.
# Tests that hold what one process at a time can have keep to one worker, in turn (`loadgroup`).
TORCHRUN = pytest.mark.xdist_group("torchrun")
"""torchrun's rendezvous port, 29500: its default, which the tests keep (it is what users type)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every `mic` test keeps to one worker: no two virtual-microphone set-ups (PulseAudio, and
    apt-get the first time) run at once."""
    for item in items:
        if item.get_closest_marker("mic"):
            item.add_marker(pytest.mark.xdist_group("mic"))


def shared_data(relative: str) -> Path:
    """A path under ../shared/data, or skip the test with a reason when it is absent."""
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"real audio {path} is absent (tests read ../shared/data beside the checkout)")
    return path


def load_benchmark(name: str):
    """The module of benchmarks/NAME.py (a script, not a package), to test its functions."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_weights(path: Path, domain: str, arch: str, **meta: object) -> Path:
    """A weights file of a freshly initialised (seed 0) model, with the domain's own labels."""
    import torch

    from livecmd.domains import get_domain
    from livecmd.models import build_model
    from livecmd.weights import WeightsMeta, save

    torch.manual_seed(0)
    d = get_domain(domain)
    return save(path, build_model(d, arch), WeightsMeta(arch, domain, d.labels, d.sample_rate, d.input_samples, **meta))


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run `livecmd ARGS` in this process (the real entry point): (exit code, stdout, stderr)."""
    import sys

    from livecmd.cli import main

    monkeypatch.setattr(sys, "argv", ["livecmd", *args])
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    """Wait until `process` (still running) has written `path`; fail if it ends or time runs out."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
