"""Which torch device to run on: the one choice shared by train, eval, listen and info."""

from __future__ import annotations

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
