"""Clip scores and the paper's metric per domain.

A clip's score is the average of its segments' scores (probabilities), as in the paper: 1
segment per speech clip, 12 per MagnaTagATune clip, 9 per DCASE clip. The metrics come from
scikit-learn:
- accuracy (speech): 12-class accuracy, with a confusion matrix. The model's outputs are mapped
  onto the 12 test classes: the top-scoring label counts, and a word that is not one of the ten
  commands counts as `_unknown_`.
- roc_auc (mtat): ROC-AUC and PR-AUC (average precision), macro-averaged over the tags; a tag
  with no positive or no negative clip in the split has no AUC and is left out of the average.
- f_score (dcase): instance-based F-score, precision and recall: every (clip, label) pair is
  one decision (score ≥ 0.5), micro-averaged.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)
from torch import nn
from torch.utils.data import DataLoader

from livecmd import audio, weights
from livecmd.compute import pick_device
from livecmd.domains import Domain, get_domain
from livecmd.errors import LivecmdError
from livecmd.models import probabilities
from train import precision
from train.augment import centred_window
from train.datasets import Clip, Decoded, load
from train.datasets.speech_commands import scoring_label
from train.datasets.windows import Windows

THRESHOLD = 0.5  # a multi-label tag is "on" when its clip score reaches this
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")  # the recordings a label folder may hold
METRIC_KEYS = ("accuracy", "roc_auc", "pr_auc", "f_score", "precision", "recall")


def clip_scores(model: nn.Module, loader: DataLoader, device: torch.device, dtype: torch.dtype | None,
                multi_label: bool, console: Console | None = None) -> np.ndarray:
    """Segment-averaged probabilities, (clips, labels) float32, for a loader of (clips,
    segments, samples) batches."""
    model.eval()
    out = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    console = console or Console(stderr=True)
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress, torch.no_grad():
        task = progress.add_task("scoring clips", total=len(loader.dataset))
        for batch in loader:
            clips, segments, samples = batch.shape
            x = batch.reshape(clips * segments, samples).to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                logits = model(x)
            p = probabilities(logits.float(), multi_label).reshape(clips, segments, -1).mean(dim=1)
            out.append(p.cpu().numpy())
            progress.advance(task, clips)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def metrics(domain: Domain, model_labels: Sequence[str], clip_labels: Sequence[Sequence[str]],
            scores: np.ndarray) -> dict[str, Any]:
    """The domain's metrics for clips with true labels `clip_labels` and `scores` (clips,
    len(model_labels)). The domain's own metric is under the key `domain.metric`."""
    return _METRICS[domain.metric](domain, list(model_labels), clip_labels, np.asarray(scores))


def _accuracy(domain: Domain, labels: list[str], clip_labels: Sequence[Sequence[str]], scores: np.ndarray) -> dict[str, Any]:
    classes = list(domain.test_labels)
    truth = [scoring_label(c[0]) for c in clip_labels]
    predicted = [scoring_label(labels[k]) for k in scores.argmax(axis=1)]
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "confusion_labels": classes,
        "confusion_matrix": confusion_matrix(truth, predicted, labels=classes).tolist(),
    }


def _auc(domain: Domain, labels: list[str], clip_labels: Sequence[Sequence[str]], scores: np.ndarray) -> dict[str, Any]:
    truth = _multi_hot(labels, clip_labels)
    scored = [k for k in range(len(labels)) if 0 < truth[:, k].sum() < len(truth)]
    if not scored:
        return {"roc_auc": math.nan, "pr_auc": math.nan, "tags_scored": 0}
    return {
        "roc_auc": float(roc_auc_score(truth[:, scored], scores[:, scored], average="macro")),
        "pr_auc": float(average_precision_score(truth[:, scored], scores[:, scored], average="macro")),
        "tags_scored": len(scored),
    }


def _f_score(domain: Domain, labels: list[str], clip_labels: Sequence[Sequence[str]], scores: np.ndarray) -> dict[str, Any]:
    truth = _multi_hot(labels, clip_labels)
    p, r, f, _ = precision_recall_fscore_support(truth, (scores >= THRESHOLD).astype(int), average="micro", zero_division=0)
    return {"f_score": float(f), "precision": float(p), "recall": float(r)}


_METRICS = {"accuracy": _accuracy, "roc_auc": _auc, "f_score": _f_score}


def _multi_hot(labels: list[str], clip_labels: Sequence[Sequence[str]]) -> np.ndarray:
    """(clips, labels) 0/1; a true label the model does not output is ignored."""
    position = {label: k for k, label in enumerate(labels)}
    truth = np.zeros((len(clip_labels), len(labels)), dtype=int)
    for row, clip in enumerate(clip_labels):
        for label in clip:
            if label in position:
                truth[row, position[label]] = 1
    return truth


def scoring_loader(dataset: Windows, segments: int, windows_per_batch: int, workers: int, pin: bool) -> DataLoader:
    """Batches of whole clips, about `windows_per_batch` windows each."""
    return DataLoader(dataset, batch_size=max(1, windows_per_batch // segments), num_workers=workers, pin_memory=pin)


def evaluate(domain: str, data: str | Path, weights_path: str | Path, split: str = "test", device: str = "auto",
             amp: str = "auto", batch_size: int = 64, workers: int | None = None, cache_dir: Path | None = None,
             as_json: bool = False, console: Console | None = None) -> dict[str, Any]:
    """Score `weights_path` on the `split` clips of the dataset at `data`; print a report (and,
    with `as_json`, the result as one JSON line last) and return the metrics (JSON-ready: NaN
    becomes None). `batch_size` counts windows; `workers` None: all cores decode, half load."""
    console = console or Console()
    cpus = os.cpu_count() or 1
    dom = get_domain(domain)
    dev = pick_device(device)
    dtype = precision.autocast_dtype(dev, amp)
    loaded = weights.load(weights_path, dev)
    if loaded.meta.domain != dom.name:
        raise LivecmdError(f"{weights_path} holds a {loaded.meta.domain} model, not {dom.name}: pass --domain {loaded.meta.domain} or other --weights")
    decoded = load(dom, data, cache_dir, cpus if workers is None else workers, Console(stderr=True))
    console.print(decoded.summary(), soft_wrap=True, highlight=False)
    clips = decoded.clips(split)
    if not clips:
        raise LivecmdError(f"{decoded.index.root} has no usable {split} clips: try --split valid or test")
    _warn_if_trained_on(weights_path, loaded.meta, decoded, split, clips)
    dataset = Windows(decoded.cache, clips, loaded.meta.input_samples, segments=dom.segments)
    loader = scoring_loader(dataset, dom.segments, batch_size, max(1, cpus // 2) if workers is None else workers, dev.type == "cuda")
    scores = clip_scores(loaded.model, loader, dev, dtype, dom.multi_label, Console(stderr=True))
    result = metrics(dom, loaded.meta.labels, [c.labels for c in clips], scores)
    result = {
        "domain": dom.name, "arch": loaded.meta.arch, "split": split, "clips": len(clips),
        "data": str(decoded.index.root), "weights": str(weights_path), "device": str(dev),
        "autocast": precision.name(dtype), **result,
    }
    result = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in result.items()}
    _report(result, dom, console)
    if as_json:
        print(json.dumps(result), flush=True)  # plain print: one line, whatever the terminal width
    return result


def _warn_if_trained_on(weights_path: str | Path, meta: weights.WeightsMeta, decoded: Decoded, split: str, clips: list[Clip]) -> None:
    """One line on stderr when the weights say they trained on this dataset and some of the
    scored clips are in its train split (the 12-class test set's `test` is every clip): that
    score is not on unseen speakers."""
    said = weights.trained_on(weights_path, meta, decoded.index.root)
    if said is None:
        return
    trained = {c.path for c in decoded.index.clips("train")}
    seen = sum(c.path in trained for c in clips)
    if seen:
        print(f"livecmd eval: warning: {seen:,} of the {len(clips):,} {split} clips are from speakers these weights trained on "
              f"({said}); --split valid scores the held-out ones", file=sys.stderr, flush=True)


def _report(result: dict[str, Any], domain: Domain, console: Console) -> None:
    table = Table(title=f"{domain.name} {result['arch']} on {result['clips']:,} {result['split']} clips ({result['device']}, {result['autocast']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in METRIC_KEYS:
        if key in result:
            table.add_row(key, "n/a" if result[key] is None else f"{result[key]:.4f}")
    console.print(table)
    if "confusion_matrix" in result:
        labels = result["confusion_labels"]
        matrix = Table(title="confusion matrix (rows: true, columns: predicted)")
        matrix.add_column("")
        for label in labels:
            matrix.add_column(label.strip("_")[:7], justify="right")
        for label, row in zip(labels, result["confusion_matrix"]):
            matrix.add_row(label, *(str(v) for v in row))
        console.print(matrix)


def evaluate_folders(data: str | Path, weights_path: str | Path, device: str = "auto", batch_size: int = 64,
                     as_json: bool = False, console: Console | None = None) -> dict[str, Any]:
    """Accuracy and confusion matrix of single-label weights on a folder with one subfolder of
    recordings per label of the weights (`_unknown_`/`_silence_` where present): how a custom
    vocabulary (`livecmd custom`) is measured. A recording longer than the model's window is
    scored on the window centred on its word; subfolders of other names are skipped and named."""
    console = console or Console()
    root = Path(data).expanduser()
    if not root.is_dir():
        raise LivecmdError(f"--data {root} is not a folder: give one with a subfolder of recordings per label")
    dev = pick_device(device)
    loaded = weights.load(weights_path, dev)
    labels = list(loaded.meta.labels)
    if get_domain(loaded.meta.domain).multi_label:
        raise LivecmdError(f"{weights_path} is a multi-label {loaded.meta.domain} model: score it with --domain {loaded.meta.domain}")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    skipped = [p.name for p in folders if p.name not in labels]
    clips = [(labels.index(p.name), f) for p in folders if p.name in labels for f in sorted(p.iterdir()) if f.suffix.lower() in AUDIO_SUFFIXES]
    if not clips:
        raise LivecmdError(f"--data {root} has no recordings in folders named for the labels of {weights_path} ({', '.join(labels)})")
    window = loaded.meta.input_samples
    truth, predicted, broken = [], [], 0
    columns = (TextColumn("scoring clips"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress, torch.no_grad():
        task = progress.add_task("scoring", total=len(clips))
        for i in range(0, len(clips), batch_size):
            batch, kept = [], []
            for k, path in clips[i : i + batch_size]:
                try:
                    batch.append(centred_window(audio.load(path, loaded.meta.sample_rate), window))
                    kept.append(k)
                except LivecmdError:
                    broken += 1
            if batch:
                logits = loaded.model(torch.from_numpy(np.stack(batch)).to(dev))
                predicted += logits.argmax(dim=1).cpu().tolist()
                truth += kept
            progress.advance(task, len(clips[i : i + batch_size]))
    present = sorted(set(truth))
    result = {
        "weights": str(weights_path), "data": str(root), "clips": len(truth), "broken": broken, "skipped_folders": skipped,
        "accuracy": float(accuracy_score(truth, predicted)),
        "per_label": {labels[k]: float(np.mean([p == k for t, p in zip(truth, predicted) if t == k])) for k in present},
        "confusion_labels": labels,
        "confusion_matrix": confusion_matrix(truth, predicted, labels=list(range(len(labels)))).tolist(),
    }
    table = Table(title=f"{Path(weights_path).name} on {len(truth):,} clips of {root} ({dev})")
    table.add_column("label")
    table.add_column("clips", justify="right")
    table.add_column("accuracy", justify="right")
    for k in present:
        table.add_row(labels[k], str(truth.count(k)), f"{result['per_label'][labels[k]]:.4f}")
    table.add_row("all", str(len(truth)), f"{result['accuracy']:.4f}")
    console.print(table)
    matrix = Table(title="confusion matrix (rows: true, columns: predicted)")
    matrix.add_column("")
    for label in labels:
        matrix.add_column(label.strip("_")[:12], justify="right")
    for k in present:
        matrix.add_row(labels[k], *(str(v) for v in result["confusion_matrix"][k]))
    console.print(matrix)
    if skipped:
        console.print(f"skipped folders that are none of the labels: {', '.join(skipped)}")
    if as_json:
        print(json.dumps(result), flush=True)
    return result
