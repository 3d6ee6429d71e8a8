"""The `livecmd` command as a user runs it (a real subprocess)."""

from __future__ import annotations

import re
import subprocess
import sys

import torch

from tests.test_models import PAIRS, _paper_parameters
from livecmd.domains import DOMAINS


def _livecmd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livecmd", *args], capture_output=True, text=True, timeout=120,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )


def test_info_prints_torch_device_and_the_six_parameter_counts() -> None:
    result = _livecmd("info")
    assert result.returncode == 0, result.stderr
    assert f"torch {torch.__version__}" in result.stdout
    assert re.search(r"device (cpu|cuda)", result.stdout)
    for domain, arch in PAIRS:
        d = DOMAINS[domain]
        count = f"{_paper_parameters(arch, d.blocks, len(d.labels)):,}"
        assert re.search(rf"{domain}\s.*{arch}.*{d.input_samples:,}.*{count}", result.stdout), (domain, arch)


def test_help_lists_every_command() -> None:
    result = _livecmd("--help")
    assert result.returncode == 0
    for name in ("info", "train", "eval", "listen", "visualize", "export", "synth"):
        assert re.search(rf"^\W*{name}\b", result.stdout, re.MULTILINE), name


def test_a_bad_flag_exits_2() -> None:
    result = _livecmd("info", "--no-such-flag")
    assert result.returncode == 2
    assert "No such option" in result.stderr
