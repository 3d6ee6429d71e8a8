"""MagnaTagATune: `annotations_final.csv` and the mp3 folders `0/` ... `f/`.

The CSV is tab-separated and quoted: "clip_id", one 0/1 column per tag (188 in the real file),
"mp3_path". The paper's setting: the most frequent tags (50), the split by the first character
of mp3_path (0-9, a, b train; c valid; d, e, f test), clips with none of the kept tags dropped
(15,244 / 1,529 / 4,332 clips).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from livecmd.domains import get_domain
from livecmd.errors import LivecmdError
from train.datasets.base import Clip, Index, no_layout

ANNOTATIONS = "annotations_final.csv"
LAYOUTS = (f"the MagnaTagATune layout ({ANNOTATIONS} and the mp3 folders 0/ ... f/)",)
_SPLIT_OF_FOLDER = {**dict.fromkeys("0123456789ab", "train"), "c": "valid", **dict.fromkeys("def", "test")}


def index(root: Path, top: int | None = None) -> Index:
    """Index a MagnaTagATune folder on its `top` most frequent tags (the domain's label count,
    50, by default)."""
    domain = get_domain("mtat")
    csv_path = root / ANNOTATIONS
    if not csv_path.is_file():
        raise no_layout(domain, root, LAYOUTS)
    with csv_path.open(newline="", encoding="utf-8") as f:
        rows = [row for row in csv.reader(f, delimiter="\t") if row]
    header = rows[0] if rows else []
    if len(header) < 3 or header[0] != "clip_id" or header[-1] != "mp3_path":
        raise LivecmdError(f"{csv_path} is not MagnaTagATune's annotations file: its header must be clip_id, the tags, mp3_path")
    tags = header[1:-1]
    try:
        marks = np.array([[int(v) for v in row[1:-1]] for row in rows[1:]], dtype=np.int8).reshape(-1, len(tags))
    except ValueError:
        raise LivecmdError(f"{csv_path} has a row that is not clip_id, {len(tags)} 0/1 tag marks, mp3_path") from None

    # The most frequent tags, ties in column order. With the real file these are the domain's
    # 50 labels: keep the domain's order then, so every model trained on MTAT agrees.
    order = np.argsort(-marks.sum(axis=0), kind="stable")[: top or len(domain.labels)]
    kept = [tags[i] for i in order]
    labels = domain.labels if set(kept) == set(domain.labels) else tuple(kept)
    columns = [tags.index(t) for t in labels]

    splits: dict[str, list[Clip]] = {"train": [], "valid": [], "test": []}
    missing = dropped = 0
    for row, mark in zip(rows[1:], marks):
        clip_tags = tuple(t for t, c in zip(labels, columns) if mark[c])
        split = _SPLIT_OF_FOLDER.get(row[-1][:1])
        if not clip_tags or split is None:
            dropped += 1
            continue
        path = root / row[-1]
        if not path.is_file():
            missing += 1
            continue
        splits[split].append(Clip(path, clip_tags))
    return Index(
        domain=domain,
        root=root,
        layout=f"MagnaTagATune layout (top {len(labels)} of {len(tags)} tags)",
        labels=tuple(labels),
        splits={k: tuple(v) for k, v in splits.items()},
        missing=missing,
        dropped=dropped,
    )
