"""Mixed precision: the autocast dtype a device trains and scores in.

bf16 keeps fp32's range, so it needs no loss scaling; it doubles the speed of these convolution
stacks on GPUs and on CPUs with bf16 matrix units (AVX512-BF16, AMX), and slows CPUs without
them, which therefore stay in fp32. fp16 (CUDA only) needs a GradScaler, which the training loop
enables for it.

A run may change precision when it resumes (a run started on a GPU goes on on a CPU, or `--amp`
changes): the loss scale of an fp16 run is kept while fp16 goes on, and a scaler that starts in
a resumed run whose earlier sessions did not scale (CPU, bf16, fp32) starts from its initial
scale, as any fp16 run does.
"""

from __future__ import annotations

import torch

from livecmd.compute import cpu_has_bf16
from livecmd.errors import LivecmdError

AMP_CHOICES = ("auto", "off", "bf16", "fp16")


def autocast_dtype(device: torch.device, amp: str = "auto") -> torch.dtype | None:
    """The dtype to autocast to on `device` for the `--amp` choice; None means fp32."""
    if amp not in AMP_CHOICES:
        raise LivecmdError(f"unknown --amp {amp!r}: choose one of {', '.join(AMP_CHOICES)}")
    cuda = device.type == "cuda"
    if amp == "off":
        return None
    if amp == "fp16":
        if not cuda:
            raise LivecmdError("--amp fp16 needs a CUDA device: use --amp bf16 or off on the CPU")
        return torch.float16
    if amp == "bf16":
        return torch.bfloat16
    if cuda:
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_bf16() else None


def name(dtype: torch.dtype | None) -> str:
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """The loss scaler of a training loop: enabled for fp16 only (bf16 has fp32's range)."""
    return torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)


def restore_scaler(scaler: torch.amp.GradScaler, saved: dict) -> None:
    """Continue `saved` (a checkpoint's `scaler.state_dict()`) in `scaler`. A session that did
    not scale saved `{}`, which torch refuses to load ("The source state dict is empty"): an
    enabled scaler then keeps its initial scale; a disabled one has nothing to continue."""
    if scaler.is_enabled() and saved:
        scaler.load_state_dict(saved)
