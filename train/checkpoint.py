"""The resumable `last` checkpoint: ONE safetensors file, written atomically.

It holds the model's tensors (`model/<name>`), the optimizer's tensors (`optimizer/<param>/<key>`,
e.g. momentum buffers) and, as JSON in the file's metadata, every scalar needed to continue:
epoch, step within the epoch, the optimizer's hyper-parameters, the scheduler's and the grad
scaler's state, the best metric so far and the run's settings. Keeping scalars inside the same
file as the tensors makes the write a single temp-file + rename, so a kill -9 at any moment
leaves either the previous checkpoint or the new one, never a mixed pair. Nothing is pickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from livecmd.errors import LivecmdError
from livecmd.weights import write_safetensors

_KEY = "livecmd_checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]  # as torch.optim.Optimizer.state_dict() returns it
    state: dict[str, Any]  # the loop's scalars (JSON types)


def save(path: Path, model: dict[str, torch.Tensor], optimizer: dict[str, Any], state: dict[str, Any]) -> None:
    """Write atomically (`livecmd.weights.write_safetensors`): a failed write leaves the previous
    checkpoint as it was and is a user error."""
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.items()}
    per_param: dict[str, dict[str, Any]] = {}
    for param, values in optimizer["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer/{param}/{key}"] = value.detach().cpu().contiguous()
            else:
                per_param.setdefault(str(param), {})[key] = value
    scalars = {"state": state, "optimizer": {"param_groups": optimizer["param_groups"], "state": per_param}}
    write_safetensors(path, tensors, {_KEY: json.dumps(scalars)})


def load(path: Path) -> Checkpoint:
    """Read a checkpoint written by `save`; a LivecmdError for anything else."""
    if not path.is_file():
        raise LivecmdError(f"no checkpoint {path} to resume from: pass --out with the folder of an earlier run")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            scalars = json.loads((f.metadata() or {})[_KEY])
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as e:  # not safetensors, truncated, or not ours
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise LivecmdError(f"{path} is not a livecmd checkpoint ({reason}): start a new run with another --out") from None
    model = {k.removeprefix("model/"): v for k, v in tensors.items() if k.startswith("model/")}
    per_param: dict[int, dict[str, Any]] = {int(p): dict(v) for p, v in scalars["optimizer"]["state"].items()}
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            _, param, name = key.split("/", 2)
            per_param.setdefault(int(param), {})[name] = value
    optimizer = {"state": per_param, "param_groups": scalars["optimizer"]["param_groups"]}
    return Checkpoint(model, optimizer, scalars["state"])
