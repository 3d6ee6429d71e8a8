"""The three audio domains of the paper (Lee et al. 2017, Table 1), as one table.

Every other module asks this table for a domain's sample rate, model input, depth, segments,
labels and metric; none of those facts is written anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from livecmd.errors import LivecmdError

SAMPLE_RATE = 16_000
"""Hz. The paper resamples every domain to 16 kHz before the model."""

SPEECH_COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
QUIET_LABELS = (SILENCE, UNKNOWN)
"""Labels that never fire: they mean "no command"."""

# Speech Commands v0.01's 30 words; the paper trained on these plus _silence_ (31 classes).
_SPEECH_V001_WORDS = (
    "bed", "bird", "cat", "dog", "down", "eight", "five", "four", "go", "happy",
    "house", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven",
    "sheila", "six", "stop", "three", "tree", "two", "up", "wow", "yes", "zero",
)

# MagnaTagATune's 50 most frequent tags, most frequent first (the standard top-50 list).
_MTAT_TOP50 = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
    "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
    "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
    "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
    "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats",
    "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)

# DCASE 2017 task 4's 17 events, spelled exactly as in the task's CSV files.
_DCASE_EVENTS = (
    "Train horn", "Air horn, truck horn", "Car alarm", "Reversing beeps", "Ambulance (siren)",
    "Police car (siren)", "Fire engine, fire truck (siren)", "Civil defense siren", "Screaming",
    "Bicycle", "Skateboard", "Car", "Car passing by", "Bus", "Truck", "Motorcycle", "Train",
)


@dataclass(frozen=True)
class Domain:
    """One task of the paper.

    `labels` are the classes the model is trained on (its outputs); `test_labels` are the
    classes it is scored on. They differ only for speech (31 trained, 12 scored).
    """

    name: str
    dataset: str
    input_samples: int  # samples at SAMPLE_RATE fed to the model at once
    blocks: int  # building blocks after the strided stem
    segments: int  # windows per clip averaged into one clip score at test time
    labels: tuple[str, ...]
    test_labels: tuple[str, ...]
    multi_label: bool  # sigmoid per label (True) or softmax over labels (False)
    metric: str  # the paper's figure of merit, as a plain key
    # Training settings a user may choose (`livecmd train --epoch-windows ...`): each tuple holds
    # the choices, the default first; an empty one means the dataset's layout fixes it.
    epoch_windows: tuple[str, ...] = ("random", "all")  # per clip per epoch: one random window, or every segment
    train_splits: tuple[str, ...] = ("train",)  # the index splits training reads ("train+test": all but valid)
    valid_from: tuple[str, ...] = ()  # where validation clips come from, when the layout leaves a choice
    sample_rate: int = SAMPLE_RATE
    # listen's automatic gain control (`livecmd.stream.level`): softer audio is brought up until
    # its loudest frame of the last seconds reaches this level (dBFS); None: no gain control.
    agc_target_dbfs: float | None = None

    @property
    def input_seconds(self) -> float:
        return self.input_samples / self.sample_rate

    def counted_as(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        """What each of a model's output `labels` counts as when its scores are turned into
        commands: the label itself, except for the filler words of a model without an
        `_unknown_` output in a domain scored with one (speech trained on the release's 30 words
        and `_silence_`): its training words that are not scored (`bed`, `cat`, ...) count as
        `_unknown_`, the paper's 12-class rule. A model with its own `_unknown_` output (12
        classes, custom words) keeps every label: those are what it was trained to tell apart."""
        if UNKNOWN not in self.test_labels or UNKNOWN in labels:
            return labels
        return tuple(UNKNOWN if label in self.labels and label not in self.test_labels else label for label in labels)

    def listened_for(self, counted: tuple[str, ...], only: str | Sequence[str]) -> tuple[str | None, ...]:
        """What each output counts as (`counted`, from `counted_as`) when only the labels `only`
        are listened for: in a multi-class model the others count as `_unknown_`, since a word
        the user does not want said is "no command" (peak picking then fires none for a `goal`
        that peaks as the unwanted `go`); a multi-label model's others are dropped (None), since
        each tag fires on its own. A user error for a name the model lacks or one that never
        fires (`_silence_`, `_unknown_`). Each of `only` is a label, or labels joined by commas
        (a scene tag may hold a comma: "Air horn, truck horn" is one label)."""
        fires = [label for label in dict.fromkeys(counted) if label not in QUIET_LABELS]
        given = [only] if isinstance(only, str) else list(only)
        names = [name.strip() for item in given for name in ([item] if item in fires else item.split(","))]
        wanted = [name for name in names if name]
        if not wanted:
            raise LivecmdError(f"--only: name the labels to listen for, e.g. --only {','.join(fires[:2])} (the model's: {', '.join(fires)})")
        for name in wanted:
            if name not in fires:
                raise LivecmdError(f"--only {name}: the model has no label {name!r} that fires; give some of {', '.join(fires)}")
        if self.multi_label:
            return tuple(label if label in wanted else None for label in counted)
        if UNKNOWN not in counted:
            raise LivecmdError(f"--only needs a model with an {UNKNOWN} output to count the other words as; these weights have none")
        return tuple(label if label in wanted or label in QUIET_LABELS else UNKNOWN for label in counted)

    def setting(self, name: str, value: str | None) -> str | None:
        """The value of the training setting `name` (a field above holding its choices): `value`
        checked against them, or the default when it is None; None for a setting the domain's
        layout fixes (a value given for one is a user error)."""
        choices: tuple[str, ...] = getattr(self, name)
        flag = "--" + name.replace("_", "-")
        if not choices:
            if value is None:
                return None
            raise LivecmdError(f"{flag} is not a {self.name} setting: its dataset layout fixes it")
        if value is None:
            return choices[0]
        if value not in choices:
            raise LivecmdError(f"{flag} {value!r} is not a {self.name} choice: choose one of {', '.join(choices)}")
        return value


DOMAINS: dict[str, Domain] = {
    d.name: d
    for d in (
        Domain(
            name="speech",
            dataset="Speech Commands v0.01 (v0.02 accepted)",
            input_samples=16_000,
            blocks=8,
            segments=1,
            labels=_SPEECH_V001_WORDS + (SILENCE,),
            test_labels=SPEECH_COMMANDS + (SILENCE, UNKNOWN),
            multi_label=False,
            metric="accuracy",
            # A clip is one window long: one window per clip. The paper's 57,929 training clips
            # are every v0.01 clip outside validation_list.txt ("train+test"); its test set was
            # Kaggle's, so the default keeps the official test list clean for `livecmd eval`.
            epoch_windows=("random", "all"),
            train_splits=("train", "train+test"),
            # The held-out stream's commands are all found from 0 to 30 dB softer at -11 dBFS
            # (77-79 of 94); at -15 and -20 the words come out softer than the clips' own level
            # and fewer are found (73, 61). docs/performance.md, "A quieter microphone".
            agc_target_dbfs=-11.0,
        ),
        Domain(
            name="mtat",
            dataset="MagnaTagATune (top-50 tags)",
            input_samples=39_366,
            blocks=9,
            segments=12,
            labels=_MTAT_TOP50,
            test_labels=_MTAT_TOP50,
            multi_label=True,
            metric="roc_auc",
            epoch_windows=("all", "random"),  # the authors train on every segment of every clip
        ),
        Domain(
            name="dcase",
            dataset="DCASE 2017 task 4, subtask A",
            input_samples=19_683,
            blocks=8,
            segments=9,
            labels=_DCASE_EVENTS,
            test_labels=_DCASE_EVENTS,
            multi_label=True,
            metric="f_score",
            epoch_windows=("all", "random"),
            # The paper's 45,313 / 5,859 are the training CSV's 51,172 clips with a share held out
            # ("holdout"); "evaluation" validates on the evaluation CSV's clips and trains on all.
            valid_from=("holdout", "evaluation"),
        ),
    )
}


def get_domain(name: str) -> Domain:
    """The domain called `name`; a user error naming the known ones otherwise."""
    try:
        return DOMAINS[name]
    except KeyError:
        raise LivecmdError(
            f"unknown domain {name!r}: choose one of {', '.join(DOMAINS)}"
        ) from None
