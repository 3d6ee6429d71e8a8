"""Weights files: safetensors with the metadata needed to rebuild and use the model.

Never unpickled: a file that is not safetensors, is truncated, lacks our metadata or does not
fit the model it names is refused with a LivecmdError.
"""

from __future__ import annotations

import json
import os
from contextlib import suppress
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from livecmd.domains import get_domain
from livecmd.errors import LivecmdError
from livecmd.models import ARCHS, build_model
from livecmd.stream.decide import DEFAULT_THRESHOLD

def _shipped_folder() -> Path:
    """Where the shipped weights are: `$LIVECMD_WEIGHTS_DIR` (for tests), else the package's
    `_weights/` (an installed wheel carries the checkout's `weights/` there), else `weights/`
    beside the package (a checkout, installed editable or on the path)."""
    if "LIVECMD_WEIGHTS_DIR" in os.environ:
        return Path(os.environ["LIVECMD_WEIGHTS_DIR"])
    package = Path(__file__).resolve().parent
    installed = package / "_weights"
    return installed if installed.is_dir() else package.parent / "weights"


WEIGHTS_DIR = _shipped_folder()
"""Where shipped weights live (see `_shipped_folder`)."""


@dataclass(frozen=True)
class WeightsMeta:
    """What a weights file says about its model. `labels` are the model's outputs, in order."""

    arch: str
    domain: str
    labels: tuple[str, ...]
    sample_rate: int
    input_samples: int
    training_data: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # recipe, epochs, data path, ...

    def to_strings(self) -> dict[str, str]:
        """safetensors metadata must be str → str: each field JSON-encoded under its name."""
        return {k: json.dumps(v) for k, v in asdict(self).items()}

    @classmethod
    def from_strings(cls, raw: dict[str, str], path: Path) -> WeightsMeta:
        missing = [f.name for f in fields(cls) if f.name not in raw and f.name in _REQUIRED]
        if missing:
            raise LivecmdError(
                f"{path} has no livecmd metadata ({', '.join(missing)} missing): "
                "use weights saved by `livecmd train` or shipped in weights/"
            )
        try:
            values = {f.name: json.loads(raw[f.name]) for f in fields(cls) if f.name in raw}
        except json.JSONDecodeError:
            raise LivecmdError(f"{path} has unreadable livecmd metadata: re-save it with `livecmd train`") from None
        wrong = [name for name, ok in _VALID.items() if name in values and not ok(values[name])]
        if wrong:
            shown = ", ".join(f"{name}={values[name]!r}"[:60] for name in wrong)
            raise LivecmdError(f"{path} has invalid livecmd metadata ({shown}): use weights saved by `livecmd train`")
        values["labels"] = tuple(values["labels"])
        return cls(**values)


_REQUIRED = ("arch", "domain", "labels", "sample_rate", "input_samples")

MIN_INPUT_SAMPLES = 3
"""The shortest input any model takes: the stem's first filter spans 3 samples (stride 3)."""


def _whole(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


# What each field must be; anything else would fail later, deep inside numpy or torch.
_VALID = {
    "arch": lambda v: isinstance(v, str),
    "domain": lambda v: isinstance(v, str),
    "labels": lambda v: isinstance(v, list) and len(v) > 0 and all(isinstance(x, str) for x in v),
    "sample_rate": lambda v: _whole(v, 1),
    "input_samples": lambda v: _whole(v, MIN_INPUT_SAMPLES),
    "training_data": lambda v: isinstance(v, str),
    "metrics": lambda v: isinstance(v, dict),
    "extra": lambda v: isinstance(v, dict),
}


@dataclass
class Loaded:
    model: nn.Module  # in eval mode
    meta: WeightsMeta


def save(path: str | Path, model: nn.Module, meta: WeightsMeta) -> Path:
    """Write `model`'s state and `meta` to `path` atomically (temp file + rename), so a crash
    mid-write never leaves a half file where a good one was."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return write_safetensors(path, state, meta.to_strings())


def write_safetensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """Write a safetensors file so that `path` is always either its old content or the new one:
    a temp file beside it, flushed to the disk, then renamed over it. A failed write (a full
    disk, a file-size limit, a read-only folder) removes the temp file and is a user error that
    says the previous file was left as it was."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(tmp), metadata=metadata)
        with open(tmp, "rb") as f:  # on the disk before the rename, so a power cut cannot leave an empty file
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, SafetensorError) as e:
        with suppress(OSError):  # a read-only folder refuses even the clean-up
            tmp.unlink(missing_ok=True)
        reason = getattr(e, "strerror", None) or str(e).splitlines()[0]
        kept = "the previous one is unchanged" if path.exists() else "nothing was written"
        raise LivecmdError(f"cannot write {path} ({reason}); {kept}: free disk space or choose a writable folder") from None
    return path


def read_meta(path: str | Path) -> WeightsMeta:
    """The metadata of a weights file, without building its model."""
    path = _existing(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except Exception as e:
        raise _not_safetensors(path, e) from None
    return WeightsMeta.from_strings(raw, path)


def load(path: str | Path, device: str | torch.device = "cpu") -> Loaded:
    """Rebuild the model a weights file describes and load its tensors, in eval mode."""
    path = _existing(path)
    meta = read_meta(path)
    if meta.arch not in ARCHS:
        raise LivecmdError(f"{path} is for architecture {meta.arch!r}, which livecmd does not know ({', '.join(ARCHS)})")
    get_domain(meta.domain)
    model = build_model(meta.domain, meta.arch, n_labels=len(meta.labels))
    try:
        state: dict[str, torch.Tensor] = {}
        with safe_open(str(path), framework="pt", device="cpu") as f:
            for key in f.keys():
                state[key] = f.get_tensor(key)
    except Exception as e:
        raise _not_safetensors(path, e) from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise LivecmdError(f"{path} does not fit a {meta.domain} {meta.arch} model ({first})") from None
    return Loaded(model.to(device).eval(), meta)


@dataclass(frozen=True)
class ListenSettings:
    """How `listen` should decide with these weights, as their recipe tuned it (the shipped
    speech model's on a stream of held-out speakers, see its card): the smoothed score that
    fires a label, and per-label scores over it. Weights without any get listen's defaults."""

    threshold: float = DEFAULT_THRESHOLD
    label_thresholds: dict[str, float] = field(default_factory=dict)
    hold_ms: float = 0.0  # how long a score must stay above its threshold before it fires
    max_utterance_ms: float = 0.0  # no event within a longer run of voice (0: any; livecmd.stream.utterance)
    peak_ms: float = 0.0  # multi-class: fire the highest peak once no score has risen this long (0: at the hold; livecmd.stream.decide)
    slow_speech: bool = False  # each window heard 1.25 times as fast too (livecmd.stream.slow_speech)


def listen_settings(meta: WeightsMeta, path: str | Path = "weights") -> ListenSettings:
    """The `ListenSettings` stored in `meta` (under `extra["listen"]`: `threshold`, `thresholds`
    as {label: score}, `hold_ms`, `max_utterance_ms`, `peak_ms`, `slow_speech`); a user error naming `path` when they are no scores."""
    stored = meta.extra.get("listen")
    if not isinstance(stored, dict):
        return ListenSettings()
    threshold = stored.get("threshold", DEFAULT_THRESHOLD)
    per_label = stored.get("thresholds", {})
    if not isinstance(per_label, dict):
        per_label = {"(all)": per_label}
    for value in (threshold, *per_label.values()):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
            raise LivecmdError(f"{path}: its tuned threshold {value!r} is not a score in (0, 1]; "
                               "give a threshold of your own (listen --threshold)")
    spans = {key: stored.get(key, 0.0) for key in ("hold_ms", "max_utterance_ms", "peak_ms")}
    for key, value in spans.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise LivecmdError(f"{path}: its tuned {key} {value!r} is not a number of milliseconds; give one of your own "
                               f"(listen --{key.replace('_', '-')})")
    slow_speech = stored.get("slow_speech", False)
    if not isinstance(slow_speech, bool):
        raise LivecmdError(f"{path}: its slow_speech {slow_speech!r} is not true or false; give --slow-speech or --no-slow-speech")
    return ListenSettings(float(threshold), {str(k): float(v) for k, v in per_label.items()}, float(spans["hold_ms"]),
                          float(spans["max_utterance_ms"]), float(spans["peak_ms"]), slow_speech)


def trained_on(path: str | Path, meta: WeightsMeta, folder: str | Path) -> str | None:
    """Where the weights at `path` say they were trained on the dataset `folder`, or None.

    They say so (1) in their metadata, `extra["data"]`: the folder `livecmd train --data` read,
    or, when that folder is one of links (`python -m train.merge`), the folders its links point
    into; (2) in their card's results beside them (`NAME.eval.json`, written by the ship
    recipe): the folder whose held-out `valid` split was scored, its other speakers having
    trained them. Folders are compared resolved, so a link or a relative path still matches."""
    folder = Path(folder).expanduser().resolve()

    def same(other: str | Path) -> bool:
        other = Path(other).expanduser().resolve()
        return other == folder or other in folder.parents or folder in other.parents

    data = meta.extra.get("data")
    if isinstance(data, str) and data:
        if same(data):
            return f"its metadata's training data {data}"
        if any(same(source) for source in _linked_sources(Path(data))):
            return f"its metadata's training data {data}, links into {folder}"
    card = Path(path).with_suffix(".eval.json")
    with suppress(OSError, ValueError, AttributeError):
        scored = json.loads(card.read_text())
        if scored.get("split") == "valid" and isinstance(scored.get("data"), str) and same(scored["data"]):
            return f"{card.name}: scored on the held-out speakers of {scored['data']}"
    return None


def _linked_sources(folder: Path, most: int = 100_000) -> set[Path]:
    """The dataset folders that the clip links of `folder/<label>/` point into (a link to
    `SOURCE/<word>/<clip>.wav` names SOURCE); empty when `folder` is not on this machine."""
    sources: set[Path] = set()
    with suppress(OSError):
        for label in folder.iterdir():
            if not label.is_dir():
                continue
            for entry in os.scandir(label):
                if entry.is_symlink():
                    sources.add(Path(os.path.realpath(entry.path)).parent.parent)
                    most -= 1
                    if most <= 0:
                        return sources
    return sources


def shipped(domain: str = "speech") -> Path:
    """The shipped weights for `domain` in weights/ (SampleCNN preferred, the paper's live model)."""
    for arch in ARCHS:
        candidate = WEIGHTS_DIR / f"{domain}-{arch}.safetensors"
        if candidate.is_file():
            return candidate
    raise LivecmdError(
        f"no shipped {domain} weights in {WEIGHTS_DIR}: train some with `livecmd train --domain {domain}` "
        "and pass --weights FILE"
    )


WAKE_PREFIX = "wake-"
"""Shipped wake words are weights/wake-NAME.safetensors (NAME: the phrase, words joined by '-')."""


def shipped_wake_words() -> dict[str, Path]:
    """The wake words shipped in weights/, by phrase ("smart mirror")."""
    return {path.stem[len(WAKE_PREFIX):].replace("-", " "): path for path in sorted(WEIGHTS_DIR.glob(f"{WAKE_PREFIX}*.safetensors"))}


def wake_word(name: str | Path) -> Path | None:
    """The shipped wake word `name` (any case; words joined by spaces, '-' or '_'), or None."""
    phrase = " ".join(str(name).lower().replace("-", " ").replace("_", " ").split())
    return shipped_wake_words().get(phrase)


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise LivecmdError(f"weights file {path} does not exist: pass --weights with a .safetensors file")
    return path


def _not_safetensors(path: Path, error: Exception) -> LivecmdError:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return LivecmdError(f"{path} is not a valid safetensors weights file ({reason}); livecmd never unpickles weights")
