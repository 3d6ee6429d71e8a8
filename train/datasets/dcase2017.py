"""DCASE 2017 task 4 (weakly labelled AudioSet clips, 17 events of traffic and warnings).

CSV files whose names contain `training`, `testing` and, when present, `evaluation` or
`validation` (`training_set.csv`, `groundtruth_weak_label_testing_set.csv`, ...), anywhere below
the folder. Rows are `YTID start end label`, tab-separated (comma-separated CSV is read too); a
clip with several labels has several rows. Strong-label files, whose rows start with the file
name (`Y{YTID}_{start}_{end}.wav onset offset label`), give the same clip labels. Audio files
`Y{YTID}_{start}_{end}.wav` lie in any folder below the root.

Test is the testing CSV's clips (the paper's 488, "development set"). Validation is chosen, never
implied by which CSVs are present (`valid_from`): `holdout`, the paper's split, holds out a stable
share of the training clips (hash of the file name) as large as the paper's 5,859 of 51,172;
`evaluation` validates on the evaluation (or validation) CSV's clips and trains on every
training clip.
"""

from __future__ import annotations

import csv
from pathlib import Path

from livecmd.domains import get_domain
from livecmd.errors import LivecmdError
from train.datasets.base import Clip, Index, held_out, no_layout

LAYOUTS = (
    "the DCASE 2017 task 4 layout (CSV files named *training*.csv and *testing*.csv with rows "
    "YTID, start, end, label, and audio files Y{YTID}_{start}_{end}.wav below the folder)",
)
VALID_PERCENT = 100 * 5_859 / 51_172  # the paper's 45,313 / 5,859 split of the training CSV: 11.45%
_SPLIT_WORDS = (("training", "train"), ("testing", "test"), ("evaluation", "valid"), ("validation", "valid"))


def index(root: Path, valid_from: str = "holdout") -> Index:
    """Index a DCASE folder, validation `holdout` (the paper's) or from the `evaluation` CSV."""
    domain = get_domain("dcase")
    tables: dict[str, list[Path]] = {"train": [], "valid": [], "test": []}
    for path in sorted(root.rglob("*.csv")):
        for word, split in _SPLIT_WORDS:
            if word in path.name.lower():
                tables[split].append(path)
                break
    if not tables["train"] or not tables["test"]:
        raise no_layout(domain, root, LAYOUTS)
    evaluation = tables["valid"]
    if valid_from == "evaluation" and not evaluation:
        raise LivecmdError(f"--valid-from evaluation: {root} has no evaluation or validation CSV; pass --valid-from holdout (the paper's split)")
    if valid_from == "holdout":
        tables["valid"] = []
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
    if valid_from == "holdout":
        train = splits["train"]
        splits["train"] = [c for c in train if not held_out(c.path.name, VALID_PERCENT)]
        splits["valid"] = [c for c in train if held_out(c.path.name, VALID_PERCENT)]
        layout = f"DCASE 2017 task 4 layout (--valid-from holdout: {VALID_PERCENT:.2f}% of training clips held out as valid, the paper's split"
        layout += f"; {', '.join(p.name for p in evaluation)} not read)" if evaluation else ")"
    else:
        layout = f"DCASE 2017 task 4 layout (--valid-from evaluation: valid is {', '.join(p.name for p in evaluation)}; every training clip trains)"
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
