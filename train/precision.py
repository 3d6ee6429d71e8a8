"""Mixed precision: the autocast dtype a device trains and scores in.

bf16 keeps fp32's range, so it needs no loss scaling; it doubles the speed of these convolution
stacks on GPUs and on CPUs with bf16 matrix units (AVX512-BF16, AMX), and slows CPUs without
them, which therefore stay in fp32. fp16 (CUDA only) needs a GradScaler, which the training loop
enables for it.
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
