"""A wake word in front of the commands (`listen --wake W`): commands count only for a few
seconds after the wake word ("smart mirror ... lights on"), as voice assistants do.

An always-on recognizer of ten short words fires on music and talk now and then; a command that
must follow a wake word fires only where both models are wrong within seconds of each other.
The wake word's model (the shipped "smart mirror", weights/wake-smart-mirror.safetensors, or
one `livecmd custom` writes) hears the same audio as the commands' model, window for window;
its events open the gate and are passed on too, marked `wake`, so a view can show that it is
listening.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from livecmd.domains import QUIET_LABELS
from livecmd.errors import LivecmdError
from livecmd.stream.decide import Detection

if TYPE_CHECKING:
    from livecmd.recognizer import Recognizer

OPEN_SECONDS = 5.0
"""How long after a wake word commands are heard (listen --wake-s)."""

STILL_THE_WAKE_WORD = 0.2
"""A command whose window the wake word's model still scores this high (smoothed) is the wake
phrase itself heard as a command ("smart mirror" as `no`), not one said after it: measured, every
command let through that was said after the wake phrase had a wake score under 0.01 there, and 11
of the 31 false ones 0.34 or more (docs/performance.md)."""


def commands_max_utterance_ms(given: float | None) -> float:
    """The commands' look-back rule behind a wake word: off (0) unless given. Said in one
    breath, "smart mirror, up" is one run of voice longer than the rule lets a command be part
    of; the gate already keeps talk out (docs/performance.md: with 0.1 s between wake word and
    command the rule cost 9 of 57 commands let through; without it, at the wake word's own
    threshold, music and talk let none through)."""
    return 0.0 if given is None else given


SHARED_SETTINGS = ("device", "engine", "hop_ms", "smooth_ms", "refractory_ms", "agc", "precision", "threads", "max_batch")
"""The `Recognizer` settings the wake word's model takes from the commands' (its threshold,
hold and look-back rule are its weights' own)."""


def check_wake(weights: str | Path, open_s: float) -> Path:
    """The wake word's weights file (`weights`: a file, or the name of a shipped wake word such
    as "smart mirror"); a user error, before any model loads, for one that is neither, or for a
    gate that never opens."""
    found: Path | None = Path(weights)
    if not found.is_file():
        from livecmd.weights import shipped_wake_words, wake_word  # imports torch: a file is checked without it

        found = wake_word(weights)
        if found is None:
            own = "the weights `livecmd custom --words \"hey mirror\"` wrote for your wake word"
            shipped = ", ".join(f'"{name}"' for name in shipped_wake_words())
            raise LivecmdError(f"--wake {weights}: no such file, nor a shipped wake word ({shipped}); give one of those or {own}"
                               if shipped else f"--wake {weights}: no such file; give {own}")
    if not open_s > 0:
        raise LivecmdError(f"--wake-s {open_s:g}: give the seconds after the wake word that commands are heard, e.g. {OPEN_SECONDS:g}")
    return found


def wake_gate(weights: str | Path, commands: Recognizer, open_s: float = OPEN_SECONDS, threshold: float | None = None,
              settings: Mapping[str, Any] | None = None) -> WakeGate:
    """The gate of the wake word model `weights` (fired at `threshold`, None: its own) in
    front of the `commands` recognizer, which was built with `settings` (Recognizer keyword
    arguments; those of `SHARED_SETTINGS` apply to the wake word's model too; it is fed what the
    commands' model hears, at their `sample_rate`). It decides without a peak wait: see
    `WakeGate.admit`."""
    from livecmd.recognizer import Recognizer

    weights = check_wake(weights, open_s)
    shared = {key: value for key, value in (settings or {}).items() if key in SHARED_SETTINGS}
    gate = WakeGate(Recognizer(weights, threshold=threshold, peak_ms=0, **shared), open_s)
    gate.check_fits(commands)
    return gate


@dataclass
class WakeGate:
    """The wake word's recognizer and the gate it opens: `open_s` seconds after each wake
    word's event, every command event passes; none passes while it is shut."""

    recognizer: Recognizer
    open_s: float = OPEN_SECONDS
    opened_at: float | None = None  # stream time of the last wake word's event
    heard: dict[int, float] = field(default_factory=dict)  # window end -> the wake word's smoothed score, recent windows
    waiting: list[Detection] = field(default_factory=list)  # commands whose window the wake word's model has not heard yet

    def check_fits(self, commands: Recognizer) -> None:
        """A user error unless the wake word's model scores the commands' windows: the same
        rate, window and hop, so that both hear the stream window for window."""
        wake = self.recognizer
        if (wake.sample_rate, wake.window_samples, wake.hop) != (commands.sample_rate, commands.window_samples, commands.hop):
            raise LivecmdError(
                f"--wake {wake.weights.name}: its windows ({wake.window_samples / wake.sample_rate:g} s at {wake.sample_rate} Hz, "
                f"every {1000 * wake.hop / wake.sample_rate:g} ms) are not the commands' ({commands.window_samples / commands.sample_rate:g} s "
                f"at {commands.sample_rate} Hz, every {1000 * commands.hop / commands.sample_rate:g} ms): give a wake word model "
                f"`livecmd custom` wrote, with listen's same --hop-ms and --engine")

    def describe(self) -> str:
        """The gate as the live view names it, after the commands' model."""
        wake = self.recognizer
        fires = [(label, t) for label, t in zip(wake.labels, wake.thresholds) if label not in QUIET_LABELS]
        words = ", ".join(label for label, _ in fires)
        return f"; commands only {self.open_s:g} s after the wake word {words} ({wake.weights.name}, threshold {min(t for _, t in fires):g})"

    def admit(self, samples: np.ndarray, commands: Sequence[Detection]) -> list[Detection]:
        """The wake word's model fed `samples` (the audio the commands' model was just fed),
        then this pass's events in time order: each wake word (`wake=True`) and the
        `commands` heard while the gate is open. A wake word's model decides without a peak
        wait (`wake_gate` builds it so), so its events come in the pass of their window and open
        the gate before the commands after them are looked at. A command whose window the wake
        word's model has not scored yet waits for it: with slow speech (`livecmd custom`'s wake
        words) that model scores a window up to 38 ms of audio later than the commands', and
        unseen the wake phrase itself would pass as a command."""
        scored = self.recognizer.score(samples)
        self.remember(scored.ends, scored.scores)
        heard_to, pending = max(self.heard, default=-1), [*self.waiting, *commands]
        ready = [c for c in pending if c.end <= heard_to]
        self.waiting = [c for c in pending if c.end > heard_to]
        admitted = self.let_through(scored.detections, ready)
        if len(scored.ends):  # forget windows older than any command the peak wait may still hand over
            oldest = int(scored.ends[-1]) - round((self.open_s + 2.0) * self.recognizer.sample_rate)
            self.heard = {end: score for end, score in self.heard.items() if end >= oldest}
        return admitted

    def remember(self, ends: np.ndarray, scores: np.ndarray) -> None:
        """The wake word's smoothed scores (windows, its labels) of windows ending at `ends`: the
        highest of its words' per window, to tell the wake phrase heard as a command."""
        fires = [i for i, label in enumerate(self.recognizer.labels) if label not in QUIET_LABELS]
        self.heard.update(zip(np.asarray(ends).tolist(), scores[:, fires].max(axis=1).tolist() if len(ends) else []))

    def let_through(self, wakes: Sequence[Detection], commands: Sequence[Detection]) -> list[Detection]:
        """`wakes` (the wake word's events, marked `wake` here) and the `commands` that come
        while the gate is open, in time order; the gate stays as the last wake word left it. A
        command from before the last wake word (the commands' peak wait can hand one over a
        pass late) stays out, as does one whose window the wake word's model still hears as the
        wake word (`STILL_THE_WAKE_WORD`, from the scores `remember` was given)."""
        admitted = []
        for event in sorted([*(replace(d, wake=True) for d in wakes), *commands], key=lambda d: (d.time, not d.wake)):
            if event.wake:
                self.opened_at = event.time
                admitted.append(event)
            elif (self.opened_at is not None and 0 <= event.time - self.opened_at <= self.open_s
                  and self.heard.get(event.end, 0.0) < STILL_THE_WAKE_WORD):
                admitted.append(event)
        return admitted

    def skip(self, samples: int) -> None:
        """The commands' reader skipped audio it fell behind on: so does the wake word's."""
        self.recognizer.skip(samples)

    def reset(self) -> None:
        """A new stream: shut, and the wake word's model starts again."""
        self.recognizer.reset()
        self.opened_at = None
        self.heard.clear()
        self.waiting.clear()
