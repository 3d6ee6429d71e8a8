"""Average the weights of one model taken at several points of training.

    python -m train.average OUT.safetensors IN.safetensors IN.safetensors ...

The mean of weights from the same run's last epochs, or of a fine-tune's epochs and the weights
it started from, sits nearer the middle of a broad minimum than any one of them and is usually
steadier on data it never saw (Izmailov et al. 2018, stochastic weight averaging). The speech
recipe ships such a mean: it keeps the clip accuracy of the weights it starts from and the
stream robustness of the fine-tune (train/recipes/ship_speech.sh). Batch-norm statistics are
averaged like the weights; counters (num_batches_tracked) are the last input's.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from livecmd import weights
from livecmd.errors import LivecmdError


def average(paths: Sequence[Path]) -> weights.Loaded:
    """The element-wise mean of the weights in `paths`, which must be of one model (the same
    domain, arch, labels and window); the metadata is the last file's, with the inputs' names in
    `extra["averaged"]` and no metrics (theirs do not describe the mean: measure it)."""
    if len(paths) < 2:
        raise LivecmdError("give two or more weights files to average")
    loaded = [weights.load(p) for p in paths]
    first = loaded[0].meta
    for path, other in zip(paths[1:], loaded[1:]):
        same = (other.meta.domain, other.meta.arch, other.meta.labels, other.meta.input_samples)
        if same != (first.domain, first.arch, first.labels, first.input_samples):
            raise LivecmdError(f"{path} is not the same model as {paths[0]} (domain, arch, labels and window must match): average weights of one model only")
    states = [item.model.state_dict() for item in loaded]
    mean = {key: torch.stack([s[key].float() for s in states]).mean(0).to(value.dtype) if value.is_floating_point() else value
            for key, value in states[-1].items()}
    model = loaded[-1].model
    model.load_state_dict(mean)
    meta = dataclasses.replace(loaded[-1].meta, metrics={}, extra={**loaded[-1].meta.extra, "averaged": [Path(p).name for p in paths]})
    return weights.Loaded(model, meta)


def main(argv: Sequence[str]) -> int:
    if len(argv) < 3:
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    try:
        result = average([Path(p) for p in argv[1:]])
        weights.save(argv[0], result.model, result.meta)
    except LivecmdError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
