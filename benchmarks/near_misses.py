"""Near misses said alone: how often `livecmd listen` fires on "goal", "download", "upper" and
the like, said by TTS voices that training never hears, and on which command.

    python benchmarks/near_misses.py [--weights W ...] [--threshold T --hold-ms H] [--per-voice 2]
        [--out runs/near-misses] [--json results.json] [--where]

A word that sounds like a command and stands alone between pauses is what the always-on
benchmark's talk fires on most: `train.recipes.negatives` ends every paragraph of its talk with
one of `NEAR_MISSES` said alone, and most of the talk's false activations fall on those words
(docs/performance.md, "Near misses said alone"). This measures it per word. The voices are the
benchmark split of `train.recipes.negatives.reading_voices` (never in training); the words are
the recipe's near misses (said alone in the training talk, by other voices) and near misses that
no recipe says (`UNHEARD`), and the ten commands by the same voices for the recall beside them.
Each group is one stream (`train.streams.build`: a word every 3 s over real kitchen noise at
30 dB), run through listen's defaults with each weights file (or one threshold and hold for
every word, to compare weights at one setting); a word "fires" when an event
comes between its start (less 0.2 s) and `train.streams.LATE_S` after its end.

`--where` asks which windows fire instead: each take set alone in quiet and scored at listen's
hops, a command over the threshold (0.5 unless given) in a window that holds the whole word, and
in one whose right edge cuts it (its head only, "down-" of "download"). A word heard whole as a
command needs the model to learn it; one heard only by its head is the window's edge.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from livecmd import audio  # noqa: E402
from livecmd.domains import SAMPLE_RATE, SPEECH_COMMANDS  # noqa: E402
from livecmd.recognizer import Recognizer  # noqa: E402
from livecmd.weights import shipped  # noqa: E402
from train import streams, synth  # noqa: E402
from train.augment import word_span  # noqa: E402
from train.recipes.negatives import NEAR_MISSES, reading_voices  # noqa: E402
from train.voices import Voice  # noqa: E402

UNHEARD = ("gopher", "upward", "offer", "stopping", "yesteryear", "leftover", "writer", "onion", "downtown")
"""Near misses of the ten commands that no training recipe says: how far what was learned on
`NEAR_MISSES` carries."""
SPACING_S = 3.0
SNR_DB = 30.0
EARLY_S = 0.2  # an event this long before a word's measured start still counts as its


def said(folder: Path, words: tuple[str, ...], voices: tuple[Voice, ...], per_voice: int, seed: int, console: Console) -> list[tuple[str, Path]]:
    """(word, clip) for every take of `words` by `voices`, synthesized once into `folder`."""
    if not all((folder / w).is_dir() for w in words):
        synth.synthesize(synth.Plan(out=folder, words=words, voices=voices, per_voice=per_voice, seed=seed,
                                    workers=len(os.sched_getaffinity(0))), console)
    clips = [(w, p) for w in words for p in sorted((folder / w).glob("*.wav"))]
    np.random.default_rng(seed).shuffle(clips)
    return clips


def fired(events: list[dict], truth: list[dict]) -> dict[str, dict]:
    """Per word: takes said, takes that drew any event, and the events' labels (a take counts
    once per label)."""
    per_word: dict[str, dict] = {}
    for t in truth:
        labels = {e["label"] for e in events if t["start"] - EARLY_S <= e["time"] <= t["end"] + streams.LATE_S}
        row = per_word.setdefault(t["label"], {"said": 0, "any": 0, "labels": Counter()})
        row["said"] += 1
        row["any"] += bool(labels)
        row["labels"].update(labels)
    return per_word


def where_fired(rec: Recognizer, take: np.ndarray, threshold: float, rng: np.random.Generator) -> tuple[bool, bool]:
    """Whether some command scores over `threshold` in a window that holds all of `take`'s word
    (`word_span`), and in one whose right edge cuts it, the word set alone in a window's length
    of quiet (a breath of noise, not digital zeros, which no microphone gives) on each side."""
    start, end = word_span(take)
    quiet = rec.window_samples
    wave = np.concatenate([np.zeros(quiet, np.float32), take[start:end], np.zeros(quiet, np.float32)])
    wave += rng.normal(0.0, 1e-3, wave.size).astype(np.float32)
    rec.reset()
    scored = rec.score(wave)
    commands = [i for i, label in enumerate(rec.labels) if label in SPEECH_COMMANDS]
    best = scored.scores[:, commands].max(axis=1)
    first = scored.ends - rec.window_samples
    word_end = quiet + end - start
    whole = (first <= quiet) & (scored.ends >= word_end)
    head = (first <= quiet) & (scored.ends > quiet) & (scored.ends < word_end)
    return bool((best[whole] > threshold).any()), bool((best[head] > threshold).any())


def where(weights: Path, clips: list[tuple[str, Path]], threshold: float, console: Console) -> dict[str, dict]:
    """Per word: takes, and those a command fires on with the whole word in the window and with
    only its head in it (`where_fired`)."""
    rec = Recognizer(weights, threshold=threshold, hold_ms=0)
    rng = np.random.default_rng(0)
    table = Table(title=f"where {weights} hears a command over {threshold:g} in words said alone")
    for column in ("word", "takes", "whole word in the window", "its head only"):
        table.add_column(column, justify="right")
    rows: dict[str, dict] = {}
    for word, path in clips:
        whole, head = where_fired(rec, audio.load(path), threshold, rng)
        row = rows.setdefault(word, {"takes": 0, "whole": 0, "head": 0})
        row.update(takes=row["takes"] + 1, whole=row["whole"] + whole, head=row["head"] + head)
    for word, row in rows.items():
        table.add_row(word, str(row["takes"]), str(row["whole"]), str(row["head"]))
    console.print(table)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, action="append", help="weights to measure (default: the shipped speech model)")
    parser.add_argument("--threshold", type=float, help="one threshold for every word (default: each weights' own)")
    parser.add_argument("--hold-ms", type=float, help="listen --hold-ms (default: each weights' own)")
    parser.add_argument("--per-voice", type=int, default=2, help="takes of each word by each voice")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("LIVECMD_SHARED", REPO.parent / "shared")))
    parser.add_argument("--out", type=Path, default=Path("runs/near-misses"), help="where the clips and streams go")
    parser.add_argument("--json", type=Path, help="write the counts here")
    parser.add_argument("--where", action="store_true", help="which windows fire: the whole word or its head only (module doc)")
    args = parser.parse_args()
    console = Console()
    voices = tuple(reading_voices("bench"))
    if not voices:
        raise SystemExit("none of the benchmark's TTS voices is installed: see `livecmd synth --list`")
    groups = {"near misses the recipe says": tuple(NEAR_MISSES), "near misses it never says": UNHEARD, "commands": tuple(SPEECH_COMMANDS)}
    if args.where:
        clips = [c for words in groups.values()  # the streams' takes, word by word
                 for c in sorted(said(args.out / "clips", words, voices, args.per_voice, args.seed, console), key=lambda c: words.index(c[0]))]
        found = {str(w): where(w, clips, 0.5 if args.threshold is None else args.threshold, console) for w in args.weights or [shipped("speech")]}
        if args.json:
            args.json.write_text(json.dumps(found, indent=1) + "\n")
        return
    noise = audio.load(args.shared / "data" / streams.NOISE)
    built = {}  # group -> (stream path, truth): the same streams for every weights file
    for group, words in groups.items():
        mix, truth = streams.build(said(args.out / "clips", words, voices, args.per_voice, args.seed, console), noise, SAMPLE_RATE, SNR_DB, SPACING_S)
        built[group] = args.out / f"{words[0]}-stream.wav", truth
        sf.write(built[group][0], mix, SAMPLE_RATE, subtype="PCM_16")
    results: dict[str, dict] = {}
    for weights in args.weights or [shipped("speech")]:
        setting = "its defaults" if args.threshold is None else f"threshold {args.threshold:g}"
        setting += "" if args.hold_ms is None else f", hold {args.hold_ms:g} ms"
        table = Table(title=f"said alone by {len(voices)} voices training never heard: {weights} at {setting}")
        for column in ("group", "word", "said", "with an event", "share", "events as"):
            table.add_column(column, justify="right")
        results[str(weights)] = {}
        for group, words in groups.items():
            path, truth = built[group]
            counts = fired(streams.detect(path, weights, args.threshold, args.hold_ms), truth)
            total = Counter()
            for n, word in enumerate(words):
                row = counts.get(word, {"said": 0, "any": 0, "labels": Counter()})
                hit = row["labels"][word] if group == "commands" else row["any"]
                total.update({"said": row["said"], "hit": hit})
                labels = ", ".join(f"{label} {count}" for label, count in row["labels"].most_common())
                table.add_row(group if n == 0 else "", word, str(row["said"]), str(hit), f"{100 * hit / max(1, row['said']):.0f}%", labels)
                results[str(weights)][word] = {"group": group, "said": row["said"], "hit": hit, "labels": dict(row["labels"])}
            what = "found" if group == "commands" else "fired on"
            table.add_row("", "[b]all[/]", str(total["said"]), str(total["hit"]),
                          f"[b]{100 * total['hit'] / max(1, total['said']):.0f}%[/] {what}", "", end_section=True)
        console.print(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
