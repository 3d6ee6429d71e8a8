"""Which torch device to run on: the one choice shared by train, eval, listen and info."""

from __future__ import annotations

import platform
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import torch

from livecmd.errors import LivecmdError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def pick_device(name: str = "auto") -> torch.device:
    """`auto` → the first CUDA GPU when torch sees one, else the CPU; `cuda` without a GPU is a
    user error rather than a crash deep inside torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise LivecmdError(f"--device {name}: torch sees no CUDA GPU here; use --device cpu or auto")
        return torch.device(name)
    raise LivecmdError(f"unknown --device {name!r}: choose one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")


@cache
def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 matrix units (AMX or AVX512-BF16), where bf16 is the fast path
    for training autocast and the listen engines: torch's own probes, else Linux's cpuinfo flags."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    if any(getattr(torch.cpu, probe, lambda: False)() for probe in probes):
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_name() -> str:
    """The CPU's model name (Linux's cpuinfo), else what `platform` knows: for benchmark reports."""
    try:
        return next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


@contextmanager
def exact_fp32() -> Iterator[None]:
    """fp32 math as on a CPU while inside: on Ampere and later GPUs cuDNN convolutions (and, if
    enabled, matmuls) run in TF32 by default, a 10-bit mantissa that moves scores by about 1e-3,
    more than a comparison with the CPU's scores tolerates. The previous settings come back after."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
