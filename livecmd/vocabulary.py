"""Your own words as labels: the one rule `livecmd custom` and `livecmd record` share.

A word or phrase is lower-case English letters (and ' or -), as a TTS voice reads it; its label
joins a phrase's words with `_` ("smart mirror" -> `smart_mirror`), so that it is a folder name
in the Speech Commands layout as well as a plain JSON string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from livecmd.domains import SILENCE, UNKNOWN
from livecmd.errors import LivecmdError


@dataclass(frozen=True)
class Phrase:
    text: str  # as spoken: "smart mirror"
    label: str  # as a label and folder name: "smart_mirror"


def label_of(text: str) -> str:
    """A phrase's label and folder name: its words joined with `_` ("smart mirror" -> `smart_mirror`)."""
    return text.replace(" ", "_")


def parse_phrases(spec: str) -> tuple[Phrase, ...]:
    """Comma-separated words or phrases (case and extra spaces ignored, repeats dropped);
    one-line errors for an empty list or text a voice cannot read."""
    texts = [" ".join(w.lower().split()) for w in spec.split(",")]
    texts = list(dict.fromkeys(t for t in texts if t))
    if not texts:
        raise LivecmdError("give the words, comma-separated: --words lights,music,next (a phrase may have spaces)")
    bad = [t for t in texts if not re.fullmatch(r"[a-z][a-z' -]*", t)]
    if bad:
        raise LivecmdError(f"cannot use {', '.join(repr(t) for t in bad)}: give English words or phrases in letters, "
                           "comma-separated, e.g. --words lights,music,'smart mirror'")
    phrases = tuple(Phrase(t, label_of(t)) for t in texts)
    clash = [p.label for p in phrases if p.label in (UNKNOWN, SILENCE)]
    if clash:
        raise LivecmdError(f"{clash[0]} is a reserved label: choose other words")
    return phrases
