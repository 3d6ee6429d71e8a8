"""DCASE 2017 task 4 (weakly labelled AudioSet clips, 17 events of traffic and warnings).

CSV files whose names contain `training`, `testing` and, when present, `evaluation` or
`validation` (`training_set.csv`, `groundtruth_weak_label_testing_set.csv`, ...), anywhere below
the folder. Rows are `YTID start end label`, tab-separated (comma-separated CSV is read too); a
clip with several labels has several rows. Strong-label files, whose rows start with the file
name (`Y{YTID}_{start}_{end}.wav onset offset label`), give the same clip labels. Audio files
`Y{YTID}_{start}_{end}.wav` lie in any folder below the root. Without an evaluation/validation
CSV, a stable 10% of the training clips (hash of the file name) is held out as validation.
"""

from __future__ import annotations

import csv
from pathlib import Path

from livecmd.domains import get_domain
from train.datasets.base import Clip, Index, held_out, no_layout

LAYOUTS = (
    "the DCASE 2017 task 4 layout (CSV files named *training*.csv and *testing*.csv with rows "
    "YTID, start, end, label, and audio files Y{YTID}_{start}_{end}.wav below the folder)",
)
VALID_PERCENT = 10.0
_SPLIT_WORDS = (("training", "train"), ("testing", "test"), ("evaluation", "valid"), ("validation", "valid"))


def index(root: Path) -> Index:
    domain = get_domain("dcase")
    tables: dict[str, list[Path]] = {"train": [], "valid": [], "test": []}
    for path in sorted(root.rglob("*.csv")):
        for word, split in _SPLIT_WORDS:
            if word in path.name.lower():
                tables[split].append(path)
                break
    if not tables["train"] or not tables["test"]:
        raise no_layout(domain, root, LAYOUTS)
    audio = {p.name: p for p in root.rglob("Y*.wav")}

    known = set(domain.labels)
    splits: dict[str, list[Clip]] = {}
    missing = 0
    for split, paths in tables.items():
        labels_of: dict[str, set[str]] = {}
        for path in paths:
            for name, label in _rows(path):
                if label in known:
                    labels_of.setdefault(name, set()).add(label)
        clips = []
        for name, labels in labels_of.items():
            found = audio.get(name) or audio.get("Y" + name)
            if found is None:
                missing += 1
                continue
            clips.append(Clip(found, tuple(l for l in domain.labels if l in labels)))
        splits[split] = clips
    layout = "DCASE 2017 task 4 layout"
    if not tables["valid"]:
        train = splits["train"]
        splits["train"] = [c for c in train if not held_out(c.path.name, VALID_PERCENT)]
        splits["valid"] = [c for c in train if held_out(c.path.name, VALID_PERCENT)]
        layout += f" ({VALID_PERCENT:g}% of training clips held out as valid)"
    return Index(
        domain=domain,
        root=root,
        layout=layout,
        labels=domain.labels,
        splits={k: tuple(v) for k, v in splits.items()},
        missing=missing,
    )


def _rows(path: Path) -> list[tuple[str, str]]:
    """(audio file name, label) for each row of a weak- or strong-label CSV; other rows (a
    header) come out with labels that match no event and are ignored by the caller."""
    out = []
    with path.open(newline="", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t") if "\t" in line else next(csv.reader([line]))
            fields = [v.strip() for v in fields]
            if len(fields) < 2:
                continue
            if fields[0].endswith(".wav"):
                out.append((fields[0], fields[-1]))
            elif len(fields) >= 4:
                ytid, start, end, label = fields[:4]
                out.append((f"Y{ytid}_{start}_{end}.wav", label))
    return out
