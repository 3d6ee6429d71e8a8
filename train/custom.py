"""`livecmd custom`: a model for your own words, learned in minutes on a CPU from the offline
TTS voices installed here (and, if given, a few takes of your own voice).

The recipe, top to bottom (`run`):
1. Synthesize every word with every chosen voice (train/synth.py: varied rate, pitch, level and
   place in the second); a few whole speakers are kept apart to tune the threshold on.
2. Gather `_unknown_` (other words: Speech Commands' words and the single words of each phrase,
   synthesized, plus real Speech Commands clips from the shared data folder when there is one;
   words cut by the window's edge) and `_silence_` (cuts of real background noise). With
   `negatives` (folders of `train.recipes.negatives`), a fixed draw of their long recordings
   too: voices as `_unknown_`, music and noise as `_silence_` and as the words' backgrounds.
3. Transfer from the shipped speech model: its early blocks stay frozen and run once per
   training window (their outputs are cached), the last `trainable` blocks are fine-tuned and a
   new output layer is learned for the new labels. Fine-tuning every layer runs at ~9 windows/s
   on one core of the dev box, the frozen trunk at ~24 windows/s and the cached top at
   thousands, so on a CPU this is the only transfer that sees enough windows in minutes
   (docs/custom-words.md compares the depths).
4. Everything after the synthesis keeps to the `minutes` budget: more augmented windows are
   computed while their share of the budget lasts, then epochs run while theirs does, and the
   model is the mean of the epochs of its second half (`fit_top`).
5. listen's threshold and hold are tuned as the shipped model's are (train.streams): one pass of
   the model over a stream of the kept-apart voices (and takes) and, with `negatives`, over a
   draw of their recordings that training did not take, decided at each threshold and hold;
   the most words found within FALSE_PER_WORD false events per word and, where the negatives
   allow, their budgets per hour (a word music sounds like gets a threshold of its own). The
   windows are heard with slow speech on (`livecmd.stream.slow_speech`: people say a phrase
   about a quarter slower than the voices), as listen then hears them. The settings are stored
   where listen reads them (`meta.extra["listen"]`).

Labels: each word or phrase as given, spaces turned into `_` ("smart mirror" -> `smart_mirror`,
a folder name as well as a JSON string), then `_unknown_` and `_silence_`.
"""

from __future__ import annotations

import math
import os
import random
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sklearn.metrics import balanced_accuracy_score
from torch import nn
from torch.optim.swa_utils import AveragedModel, update_bn

from livecmd import audio, interrupts, weights
from livecmd.domains import SAMPLE_RATE, SILENCE, UNKNOWN, get_domain
from livecmd.errors import LivecmdError
from livecmd.vocabulary import Phrase, label_of, parse_phrases
from train import streams, synth
from train.datasets import negatives
from train.evaluate import AUDIO_SUFFIXES
from train.augment import Augmentation, augment, centred_window, cut_word, gain, room_and_microphone, word_span
from train.voices import VOICES, Voice

WINDOW = get_domain("speech").input_samples  # 1 s at 16 kHz: the shipped model's window
SHARED = Path(os.environ.get("LIVECMD_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"
# Real clips for `_unknown_` and `_silence_` in ../shared/data (never wake_words_real: those are
# the recordings custom vocabularies are scored on).
REAL_UNKNOWN = ("speech_commands_v0.01_sample", "speech_commands_test_set_v0.02_part_a", "speech_commands_extra_trainval")
NOISE_DIR = "speech_commands_v0.01_sample/_background_noise_"
TUNE_NOISE = "doing_the_dishes.wav"  # the threshold stream's background, kept out of training
OTHER_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "bed", "bird", "cat", "dog",
               "happy", "house", "marvin", "sheila", "tree", "wow", "one", "two", "three", "seven", "zero")
# Augmentation of the words: anywhere whole in the window (as listen's sliding windows see them),
# in noise down to 5 dB SNR, at any level.
WORD_AUGMENT = Augmentation(max_shift=0.5, whole_words=True, noise_probability=0.8, snr_db=(5.0, 30.0))
OTHER_AUGMENT = Augmentation(max_shift=0.3, noise_probability=0.8, snr_db=(5.0, 30.0))
FALSE_PER_WORD = 0.05  # threshold tuning: at most 1 false event per 20 words on the kept-apart stream
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
HOLDS_MS = (0.0, 100.0, 200.0)  # listen --hold-ms candidates
MAX_UTTERANCE_MS = 2000.0
"""listen --max-utterance-ms for custom words (the shipped commands': 1200): a phrase must fit
the model's 1-s window to be learned at all, and a second more leaves room for slow speakers.
Measured on the 285 real recordings (docs/custom-words.md): no word lost, talk's false
activations down by a third to a half."""
NO_NEGATIVES = ("without --negatives the model never hears music or talk, and fires on them hundreds of times an hour "
                "(measured: 259 times an hour on music and 1,172 on talk, docs/custom-words.md); "
                "`python -m train.recipes.negatives NEG` builds them from Debian packages and the TTS voices, "
                "then give --negatives NEG/train")
NEGATIVE_HOURS = 0.25  # of each kind of --negatives recording, held in memory for the run
TUNE_NEGATIVE_HOURS = 0.3
"""Of each kind of the other --negatives recordings, to tune listen on: enough that one event
(3.3 an hour) stays within the talk budget of 5, so no setting is chosen on a single event. With
0.1 h one event was 10 an hour and a synthetic-only run was tuned to 0.95 with a 200-ms hold:
70.2% of the 285 real recordings against 78.9% with this draw (docs/custom-words.md)."""
BATCH = 64  # windows per forward pass of the frozen trunk


@dataclass(frozen=True)
class CustomConfig:
    """One `livecmd custom` run. `minutes` bounds everything after the synthesis."""

    words: str  # comma-separated words or phrases, as typed
    out: Path
    takes: Path | None = None  # the user's recordings: TAKES/LABEL/*.wav (`livecmd record`)
    minutes: float = 20.0
    voices: str = "all"
    per_voice: int = 6  # takes per voice and word
    trainable: int = 3  # conv blocks fine-tuned at the top; the rest are frozen
    held_out: float = 0.15  # share of the speakers kept apart for the threshold
    seed: int = 0
    shared: Path = SHARED  # real clips for _unknown_ and _silence_ where present
    init: Path | None = None  # None: the shipped speech weights
    negatives: tuple[Path, ...] = ()  # folders of long recordings without the words (train.recipes.negatives)
    speed: float = 0.0  # the words (synthetic and taken) and the other words played 1 ± up to this many times as fast (`augment.change_speed`)
    room: float = 0.5  # every training window in a random room and through a random microphone band, each this often (`augment.room_and_microphone`)


@dataclass
class Sources:
    """Every clip the run learns from, as 1-s float32 windows (or paths for the stream)."""

    labels: tuple[str, ...]
    words: dict[str, list[np.ndarray]]  # label -> training clips (synthetic and takes)
    other: list[np.ndarray]  # synthetic other words
    real_other: list[Path]  # real other words, decoded as needed
    noise: list[np.ndarray]  # long background recordings (and the music and noise of --negatives)
    tune_words: list[tuple[str, Path]]  # kept-apart clips for the threshold stream
    tune_noise: np.ndarray
    voices: int = 0  # TTS voices trained on
    talk: list[np.ndarray] = field(default_factory=list)  # long recordings of voices without the words, for _unknown_
    tune_negatives: list[negatives.Recording] = field(default_factory=list)  # not trained on: listen's tuning


def split_voices(voices: Sequence[Voice], share: float, seed: int) -> tuple[tuple[Voice, ...], tuple[Voice, ...]]:
    """(training voices, kept-apart voices): whole speakers kept apart (voices built from one
    recording go together), about `share` of them and at least one when there are two or more;
    with a single speaker, one of its voices. Nothing is kept apart from a single voice."""
    speakers = sorted({v.speaker for v in voices})
    if len(speakers) >= 2:
        kept = set(random.Random(seed).sample(speakers, max(1, round(share * len(speakers)))))
        return tuple(v for v in voices if v.speaker not in kept), tuple(v for v in voices if v.speaker in kept)
    if len(voices) >= 2:
        return tuple(voices[:-1]), (voices[-1],)
    return tuple(voices), ()


def _synthesize(out: Path, texts: Sequence[str], voices: Sequence[Voice], per_voice: int, seed: int,
                console: Console) -> dict[str, list[Path]]:
    """text -> clip paths written by `synth.synthesize` under `out` (one folder per text)."""
    if not voices or not texts:
        return {t: [] for t in texts}
    plan = synth.Plan(out=out, words=tuple(texts), voices=tuple(voices), per_voice=per_voice, seed=seed,
                      workers=len(os.sched_getaffinity(0)))
    synth.synthesize(plan, console)
    return {t: sorted((out / label_of(t)).glob("*.wav")) for t in texts}


LONG_PHRASE_S = 0.85
"""The voices' median length of a phrase above which `custom` warns. People said the three wake
phrases of `wake_words_real` about a quarter slower than the TTS voices (median 0.84 s against
0.68 s), and the recordings longer than listen's 1-s window were the ones missed (40-50% of those
over 1.05 s, against 2% of those under 0.95 s: docs/custom-words.md, "The words missed are the
long ones"). A phrase the voices take 0.85 s to say, people say in about 1.05 s."""


def long_phrases(spoken: dict[str, list[Path]]) -> list[str]:
    """A warning for each phrase of `spoken` (text -> its synthesized clips) that the voices take
    more than LONG_PHRASE_S to say (median of `word_span`), so that a user picks a shorter one
    before minutes of training rather than after a day of missed commands."""
    def said_s(clip: Path) -> float:
        start, end = word_span(audio.load(clip, SAMPLE_RATE))
        return (end - start) / SAMPLE_RATE

    lines = []
    for text, clips in spoken.items():
        seconds = float(np.median([said_s(c) for c in clips])) if clips else 0.0
        if seconds > LONG_PHRASE_S:
            more = " or more" if seconds >= synth.MAX_SPEECH / SAMPLE_RATE - 0.02 else ""  # synth sped the longest up to fit 1 s
            lines.append(f"{text!r} takes the voices {seconds:.2f} s{more} to say; people say a phrase about a quarter slower, "
                         f"past listen's 1-s window, and such long ones are missed more often: a shorter phrase is heard better")
    return lines


def load_clip(path: Path) -> np.ndarray:
    """A recording as a 1-s window centred on its word (a take may be several seconds long)."""
    return centred_window(audio.load(path), WINDOW)


def read_takes(folder: Path, labels: Sequence[str]) -> dict[str, list[Path]]:
    """TAKES/LABEL/*.wav (the layout `livecmd record` writes); a folder of another label is an error."""
    if not folder.is_dir():
        raise LivecmdError(f"--takes {folder} is not a folder: give the folder `livecmd record --out` wrote")
    found: dict[str, list[Path]] = {label: [] for label in labels}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if sub.name not in found:
            raise LivecmdError(f"--takes {folder} has a folder {sub.name!r}, which is none of the words ({', '.join(labels)})")
        found[sub.name] = sorted(p for p in sub.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not any(found.values()):
        raise LivecmdError(f"--takes {folder} holds no recordings in LABEL/ folders ({', '.join(labels)})")
    return found


def real_other_words(shared: Path, labels: Sequence[str]) -> list[Path]:
    """Real Speech Commands clips of words that are none of `labels`, from the shared data folder.
    An `_unknown_` folder names each clip for its word (`eight_0a7c2a8d_nohash_0.wav` in the
    12-class test set): those of a label are left out too, or a user's word that Speech Commands
    holds would be trained, and tuned, as `_unknown_`."""
    mine = tuple(f"{label}_" for label in labels)
    paths = []
    for name in REAL_UNKNOWN:
        root = shared / name
        if not root.is_dir():
            continue
        for sub in sorted(p for p in root.iterdir() if p.is_dir()):
            if sub.name in labels or sub.name == SILENCE or sub.name.startswith("_background"):
                continue
            paths += sorted(p for p in sub.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES
                            and not (sub.name == UNKNOWN and p.name.startswith(mine)))
    return paths


def noise_recordings(shared: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """(training noises, the threshold stream's noise): the real background recordings where
    present, else generated white and pink noise."""
    folder = shared / NOISE_DIR
    if folder.is_dir():
        waves = {p.name: audio.load(p) for p in sorted(folder.glob("*.wav"))}
        tune = waves.pop(TUNE_NOISE, None)
        if waves:
            return list(waves.values()), tune if tune is not None else next(iter(waves.values()))
    rng = np.random.default_rng(0)
    white = rng.standard_normal(60 * SAMPLE_RATE).astype(np.float32) * 0.05
    pink = np.cumsum(rng.standard_normal(60 * SAMPLE_RATE)).astype(np.float32)
    pink = (pink - np.convolve(pink, np.ones(400) / 400, mode="same")) * 0.01
    return [white, pink.astype(np.float32)], white


def negative_recordings(folders: Sequence[Path], seed: int, hours: float = NEGATIVE_HOURS, tune_hours: float = TUNE_NEGATIVE_HOURS,
                        ) -> tuple[list[np.ndarray], list[np.ndarray], int, list[negatives.Recording]]:
    """(music and noise, voices without the words, recordings skipped as unreadable, recordings
    to tune on): a fixed draw of `hours` of each kind of the folders' recordings
    (`livecmd train --negatives` reads the same layout), labelled as training labels them:
    voices `_unknown_`, the rest `_silence_` (the rest of the world, so that music and talk do
    not fire the new words); then a draw of `tune_hours` of each kind of the others."""
    found = negatives.find(folders)
    quiet, talk, skipped = [], [], found.broken
    drawn = negatives.draw(found.recordings, hours, seed)
    tune = negatives.draw([r for r in found.recordings if r not in set(drawn)], tune_hours, seed)
    for recording in drawn:
        try:
            wave = audio.load(recording.path)
        except LivecmdError:
            skipped += 1
            continue
        if len(wave) >= WINDOW:
            (talk if recording.label == UNKNOWN else quiet).append(wave)
    return quiet, talk, skipped, tune


def gather(config: CustomConfig, phrases: Sequence[Phrase], work: Path, console: Console) -> Sources:
    """Synthesize and collect every clip of the run (the part outside the time budget)."""
    # First what can be refused in a second (a missing negatives folder), then the minutes of synthesis.
    quiet, talk, skipped, tune_negatives = negative_recordings(config.negatives, config.seed) if config.negatives else ([], [], 0, [])
    installed = {v: v.installed() for v in VOICES}
    voices = synth.select_voices(config.voices, installed)
    train_voices, tune_voices = split_voices(voices, config.held_out, config.seed)
    labels = tuple(p.label for p in phrases)
    texts = [p.text for p in phrases]
    console.print(f"voices: {len(voices)} ({len(train_voices)} to train, {len(tune_voices)} kept apart to tune the threshold)")
    spoken = _synthesize(work / "words", texts, voices, config.per_voice, config.seed, console)
    mute = [p.text for p in phrases if not spoken[p.text]]
    if mute:
        raise LivecmdError(f"no installed voice could say {', '.join(repr(t) for t in mute)}: check the spelling, "
                           "or install more voices (`livecmd synth --list`)")
    for line in long_phrases(spoken):
        console.print(line, style="yellow")
    kept_names = {f"{synth.speaker_id(v)}_nohash_{synth.clip_number(v, k, config.per_voice)}.wav"
                  for v in tune_voices for k in range(config.per_voice)}
    is_tune = lambda path: path.name in kept_names  # noqa: E731
    words = {p.label: [load_clip(c) for c in spoken[p.text] if not is_tune(c)] for p in phrases}
    tune_words = [(p.label, c) for p in phrases for c in spoken[p.text] if is_tune(c)]
    if config.takes is not None:
        for label, paths in read_takes(config.takes, labels).items():
            kept = paths[-1:] if len(paths) >= 4 else []  # one take per word checks the threshold
            mine = [load_clip(p) for p in paths if p not in kept]
            # A take is worth more than a synthetic clip: together a quarter of the word's draws.
            words[label] += mine * max(1, round(len(words[label]) / 3 / max(len(mine), 1)))
            tune_words += [(label, p) for p in kept]
    if any(not clips for clips in words.values()):
        empty = [label for label, clips in words.items() if not clips]
        raise LivecmdError(f"no training clip of {', '.join(empty)}: use more voices (--voices all)")

    # Other words: Speech Commands' (less the user's) and each word of a phrase on its own, so
    # that "mirror" alone is not "smart mirror".
    parts = {w for p in phrases if " " in p.text for w in p.text.split()}
    others = sorted((set(OTHER_WORDS) | parts) - set(labels) - set(texts))
    other_voices = tuple(v for v in train_voices if v.engine.name != "festival")[:24] or train_voices  # festival is slow to start
    said = _synthesize(work / "other", others, other_voices, 1, config.seed + 1, console)
    if parts:  # the parts of phrases are the nearest misses: more of them
        said_parts = _synthesize(work / "parts", sorted(parts - set(labels)), train_voices, 2, config.seed + 2, console)
        for text, paths in said_parts.items():
            said[text] = said.get(text, []) + paths
    other = [load_clip(c) for paths in said.values() for c in paths]
    real = real_other_words(config.shared, labels + tuple(texts))
    random.Random(config.seed).shuffle(real)
    tune_real = real[: max(10, len(tune_words) // 2)] if real else []
    noise, tune_noise = noise_recordings(config.shared)
    tune = tune_words + [(UNKNOWN, p) for p in tune_real]
    random.Random(config.seed).shuffle(tune)
    console.print(f"clips: {', '.join(f'{label} {len(c)}' for label, c in words.items())}, other words {len(other)} synthetic "
                  f"+ {len(real) - len(tune_real)} real, {len(noise)} noise recordings; threshold stream {len(tune)} clips")
    if config.negatives:
        console.print(f"negatives: {len(quiet)} recordings of music and noise, {len(talk)} of voices "
                      f"(at most {NEGATIVE_HOURS:g} h of each kind), {len(tune_negatives)} others to tune listen on; "
                      f"skipped {skipped} unreadable files")
    return Sources(labels + (UNKNOWN, SILENCE), words, other, real[len(tune_real):], noise + quiet, tune, tune_noise,
                   len(train_voices), talk, tune_negatives)


# -- windows: what the frozen trunk sees, drawn without end in a fixed mix -------------------------


def silence_window(rng: np.random.Generator, noise: Sequence[np.ndarray]) -> np.ndarray:
    """A 1-s cut of a background recording at a random level (now and then near-digital silence)."""
    if rng.random() < 0.1:
        return (rng.standard_normal(WINDOW) * 10 ** rng.uniform(-5, -3)).astype(np.float32)
    return cut_window(rng, noise)


def cut_window(rng: np.random.Generator, recordings: Sequence[np.ndarray]) -> np.ndarray:
    """A 1-s cut of one of long `recordings`, at a random level."""
    wave = recordings[int(rng.integers(len(recordings)))]
    start = int(rng.integers(0, len(wave) - WINDOW + 1))
    return gain(wave[start : start + WINDOW].copy(), float(rng.uniform(-30, 0)))


def windows(sources: Sources, seed: int, speed: float = 0.0, room: float = 0.0) -> Iterator[tuple[np.ndarray, int]]:
    """`dry_windows`, each then in a random room and through a random microphone band, each
    with probability `room` (`augment.room_and_microphone`): the words, the other words, the talk
    and the silences alike, so that neither a room nor a band tells one label from another (with
    the silences left dry, a room's reverberation said "not silence" and music fired more)."""
    rng = np.random.default_rng([seed, 1])
    for wave, k in dry_windows(sources, seed, speed):
        yield (room_and_microphone(wave, rng, room) if room else wave), k


def dry_windows(sources: Sources, seed: int, speed: float = 0.0) -> Iterator[tuple[np.ndarray, int]]:
    """(window (WINDOW,) float32, label index), endlessly. The first pass holds every training
    clip once (augmented); later passes draw more augmented copies in the same proportions
    (each label's words 30% in all, other words 55% of which a third are words cut by the
    window's edge, silence 15%, taking real other words first). With negatives, 15 of the other
    words' 55% are windows of voices without the words, and silence and the words' backgrounds
    draw from their music and noise too. With `speed`, the words and the other words are played
    at a random speed too (voices the few dozen TTS voices are not), except a cut word."""
    rng = np.random.default_rng(seed)
    word_augment, other_augment = replace(WORD_AUGMENT, speed=speed), replace(OTHER_AUGMENT, speed=speed)
    labels = sources.labels
    unknown, silence = labels.index(UNKNOWN), labels.index(SILENCE)
    word_clips = [(labels.index(label), clip) for label, clips in sources.words.items() for clip in clips]
    real = list(sources.real_other)
    n_words = len(word_clips)

    def word() -> tuple[np.ndarray, int]:
        k, clip = word_clips[int(rng.integers(n_words))]
        return augment(clip, rng, sources.noise, word_augment), k

    def other() -> tuple[np.ndarray, int]:
        roll = rng.random()
        if roll < 1 / 3:
            _, clip = word_clips[int(rng.integers(n_words))]
            return augment(cut_word(clip, rng), rng, sources.noise, _unshifted(other_augment)), unknown
        if real and (roll < 0.9 or not sources.other):
            path = real[int(rng.integers(len(real)))]
            try:
                clip = load_clip(path)
            except LivecmdError:
                return other()
            return augment(clip, rng, sources.noise, other_augment), unknown
        if sources.other:
            return augment(sources.other[int(rng.integers(len(sources.other)))], rng, sources.noise, other_augment), unknown
        return other()

    # First pass: every word clip once, as many other words, a few silences.
    for k, clip in word_clips:
        yield augment(clip, rng, sources.noise, word_augment), k
    for clip in sources.other:
        yield augment(clip, rng, sources.noise, other_augment), unknown
    for _ in range(max(n_words // 4, 8)):
        yield silence_window(rng, sources.noise), silence
    talk_from = 0.7 if sources.talk else 0.85
    while True:
        roll = rng.random()
        if roll < 0.3:
            yield word()
        elif roll < talk_from:
            yield other()
        elif roll < 0.85:
            yield cut_window(rng, sources.talk), unknown
        else:
            yield silence_window(rng, sources.noise), silence


def _unshifted(settings: Augmentation) -> Augmentation:
    """A cut word keeps the place `cut_word` gave it: no further shift, and no change of speed
    (`change_speed` centres the word again)."""
    return replace(settings, max_shift=0.0, speed=0.0)


def first_pass(sources: Sources) -> int:
    """Windows in `windows`' first pass: computed whatever the budget."""
    n_words = sum(len(c) for c in sources.words.values())
    return n_words + len(sources.other) + max(n_words // 4, 8)


# -- the model: a frozen trunk, a fine-tuned top ----------------------------------------------------


def start_model(init: Path | None, n_labels: int) -> nn.Module:
    """The shipped speech SampleCNN (or `init`) with a new output layer for `n_labels`."""
    start = weights.load(init or weights.shipped("speech"))
    if start.meta.domain != "speech" or start.meta.input_samples != WINDOW:
        raise LivecmdError(f"--init {init}: custom words start from 1-s speech weights, not {start.meta.domain}")
    model = start.model
    old = model.head[-1]
    torch.manual_seed(0)
    model.head[-1] = nn.Linear(old.in_features, n_labels)
    return model


def trunk_features(model: nn.Module, frozen: int, batch: np.ndarray) -> torch.Tensor:
    """The frozen layers' output for windows (batch, samples): (batch, filters, steps) float16."""
    with torch.no_grad():
        x = torch.from_numpy(batch).unsqueeze(1)
        for layer in model.layers[:frozen]:
            x = layer(x)
    return x.to(torch.float16)


def kept_apart(sources: Sources, model: nn.Module, frozen: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Features and targets of the kept-apart clips (and 8 silences), or None without any."""
    if not sources.tune_words:
        return None
    kept = [(sources.labels.index(label), load_clip(path)) for label, path in sources.tune_words]
    rng = np.random.default_rng(1)
    silences = [silence_window(rng, sources.noise) for _ in range(8)]
    features = trunk_features(model, frozen, np.stack([w for _, w in kept] + silences))
    return features, torch.tensor([k for k, _ in kept] + [sources.labels.index(SILENCE)] * len(silences))


def top_logits(model: nn.Module, frozen: int, features: torch.Tensor) -> torch.Tensor:
    x = features.float()
    for layer in model.layers[frozen:]:
        x = layer(x)
    return model.head(x.amax(dim=2))


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
                    TimeRemainingColumn(), console=console, transient=False)


def extract(model: nn.Module, frozen: int, stream: Iterator[tuple[np.ndarray, int]], minimum: int, seconds: float,
            console: Console, stop: interrupts.StopRequest | None = None, most: int = 200_000) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of windows from `stream`: at least `minimum`, then more while `seconds` last;
    after a stop request, what there is (at least one batch)."""
    model.eval()
    feats, targets = [], []
    started = time.monotonic()
    done = 0
    with _progress(console) as progress:
        task = progress.add_task("windows", total=minimum, note="")
        while done < most:
            spent = time.monotonic() - started
            if (done >= minimum and spent > seconds - (spent / max(done, 1)) * BATCH) or (done and stop is not None and stop.requested):
                break
            batch = [next(stream) for _ in range(BATCH)]
            feats.append(trunk_features(model, frozen, np.stack([w for w, _ in batch])))
            targets += [k for _, k in batch]
            done += BATCH
            rate = done / max(time.monotonic() - started, 1e-9)
            expected = max(minimum, min(most, int(rate * seconds)))
            progress.update(task, completed=done, total=expected, note=f"{rate:.1f} windows/s")
    return torch.cat(feats), torch.tensor(targets)


def fit_top(model: nn.Module, frozen: int, train: tuple[torch.Tensor, torch.Tensor], valid: tuple[torch.Tensor, torch.Tensor] | None,
            seconds: float, console: Console, seed: int, stop: interrupts.StopRequest | None = None, max_epochs: int = 60,
            average_from: float = 0.5) -> dict[str, Any]:
    """Train the unfrozen layers and the head on cached features for `seconds` (at least one
    epoch; a stop request ends it at the next batch once an epoch is whole), classes weighted to
    balance. The model ends as the mean of its weights after each whole epoch that ended once
    `average_from` of the time had passed (the second half: stochastic weight averaging, Izmailov
    et al. 2018; the last epoch alone when fewer than two did), with the trained layers'
    batch-norm statistics computed again over the training windows (a mean of weights needs its
    own; torch's `AveragedModel` and `update_bn`).

    Why a mean and not the best epoch on the kept-apart synthetic voices, which custom took
    before: their balanced accuracy is about 0.99 from the first epochs, so the pick is noise (it
    picked epochs 8 and 3 of 29 in two runs), and real people are another domain; the mean of
    those runs found 236 and 221 of the 285 real recordings of docs/custom-words.md where the
    picked epochs found 232 and 188, each as custom tuned it. Returns `valid`'s balanced accuracy
    of the result (`score`, NaN without it), the epochs run and the epochs averaged."""
    torch.manual_seed(seed)
    x, y = train
    n_labels = model.head[-1].out_features
    counts = torch.bincount(y, minlength=n_labels).float().clamp(min=1)
    loss_fn = nn.CrossEntropyLoss(weight=(counts.sum() / counts / n_labels))
    top = [p for layer in model.layers[frozen:] for p in layer.parameters()]
    optimizer = torch.optim.AdamW([{"params": top, "lr": 3e-4}, {"params": model.head.parameters(), "lr": 1e-3}], weight_decay=1e-2)
    mean: AveragedModel | None = None  # from the first epoch to end after `average_from` of the time
    averaged = 0
    started = time.monotonic()
    epoch = 0

    def stopping() -> bool:
        return epoch > 0 and stop is not None and stop.requested
    with _progress(console) as progress:
        task = progress.add_task("epochs", total=max_epochs, note="")
        while epoch < max_epochs:
            epoch_started = time.monotonic()
            for layer in model.layers[:frozen]:
                layer.eval()
            for layer in model.layers[frozen:]:
                layer.train()
            model.head.train()
            order = torch.randperm(len(y))
            total = 0.0
            for i in range(0, len(y), 32):
                if stopping():
                    break
                pick = order[i : i + 32]
                if len(pick) < 2:  # BatchNorm needs two windows
                    continue
                loss = loss_fn(top_logits(model, frozen, x[pick]), y[pick])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(pick)
            if stopping():  # a part of an epoch is neither scored nor averaged
                break
            epoch += 1
            if time.monotonic() - started > seconds * average_from:
                if mean is None:
                    mean = AveragedModel(model)
                mean.update_parameters(model)
                averaged = int(mean.n_averaged)
            score = _balanced(model, frozen, valid) if valid is not None else math.nan
            progress.update(task, advance=1, note=f"loss {total / len(y):.3f}  kept-apart balanced acc {score:.3f}"
                                                  + (f"  averaging {averaged} epochs" if averaged else ""))
            per_epoch = time.monotonic() - epoch_started
            if time.monotonic() - started + per_epoch > seconds:
                break
    if mean is not None and averaged >= 2:
        model.load_state_dict(mean.module.state_dict())
        with torch.no_grad():  # the trained layers' statistics over every training window, a batch at a time
            update_bn((x[i : i + 256].float() for i in range(0, len(x), 256)), nn.Sequential(*model.layers[frozen:]))
    else:
        averaged = 1  # the last epoch as it is
    model.eval()
    return {"score": _balanced(model, frozen, valid) if valid is not None else math.nan, "epochs": epoch, "averaged": averaged}


def _balanced(model: nn.Module, frozen: int, data: tuple[torch.Tensor, torch.Tensor]) -> float:
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([top_logits(model, frozen, data[0][i : i + 256]).argmax(1) for i in range(0, len(data[1]), 256)])
    with warnings.catch_warnings():  # an early model may predict a label the kept-apart words lack: scored, not worth a warning
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(data[1].numpy(), predicted.numpy()))


# -- the threshold, as listen uses it ---------------------------------------------------------------


def tune(model_path: Path, sources: Sources, console: Console) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """listen's operating point for the new words (`train.streams`, as the shipped model's): one
    pass of the model over a stream of the kept-apart words (and other words) over real noise and
    over `sources.tune_negatives` (`streams.tune_operating_point`, words said alone as
    `MAX_UTTERANCE_MS` says): of every threshold and hold, the most words found with at most
    FALSE_PER_WORD false events per word, within the negatives' budgets per hour where any
    setting keeps them, then single words' thresholds raised while the negatives stay over. Returns the chosen row, every row and the raising's
    steps. No kept-apart clip: listen's default threshold."""
    words = [w for w in sources.tune_words if w[0] != UNKNOWN]
    if not words:
        return {"threshold": 0.5, "hold_ms": 0.0}, [], []
    mix, truth = streams.build(sources.tune_words, sources.tune_noise, SAMPLE_RATE, snr_db=20.0, spacing_s=2.0)
    with console.status(f"tuning listen on {len(words)} kept-apart words and {len(sources.tune_negatives)} negative recordings"):
        return streams.tune_operating_point(mix, truth, model_path, sources.tune_negatives, THRESHOLDS, HOLDS_MS,
                                            label_steps=THRESHOLDS, false_per_command=FALSE_PER_WORD, max_utterance_ms=MAX_UTTERANCE_MS)


LOUDER = (0.8, 0.0)
"""(threshold, hold ms) that `custom` names beside the tuned setting when that is quieter. The
kept-apart stream of synthetic voices is found whole at most settings, so the tuning takes the
one furthest under the negatives' budgets, and that costs real voices: on 285 real recordings of
three phrases six models found 216-254 as tuned and 255-258 here, with 0-6 false events against
0-1 and 2-8 events in 9 minutes of real music against 0-2 (docs/custom-words.md, "Kept apart by
voices, not speakers")."""


def louder(best: dict[str, Any], rows: Sequence[dict[str, Any]], out: Path) -> str:
    """A line naming `LOUDER` and what it costs on the tuning's talk, or "" when the tuned
    setting is no quieter or no talk was measured (a user weighing a miss against an alarm needs
    both figures; without negatives a louder setting is no advice)."""
    threshold, hold_ms = LOUDER
    if best["threshold"] <= threshold and (best.get("hold_ms") or 0.0) <= hold_ms and not best.get("thresholds"):
        return ""
    row = next((r for r in rows if r["threshold"] == threshold and r.get("hold_ms") == hold_ms and not r.get("thresholds")), None)
    if row is None or "speech" not in row.get("per_hour", {}) or "speech" not in best.get("per_hour", {}):
        return ""
    return (f"More of real people's words, at more false alarms: `livecmd listen --weights {out} --threshold {threshold:g} "
            f"--hold-ms {hold_ms:g}` ({row['per_hour']['speech']:.0f} an hour on the tuning's talk against "
            f"{best['per_hour']['speech']:.0f} as tuned)")


# -- the command ------------------------------------------------------------------------------------


def run(config: CustomConfig, console: Console | None = None) -> Path:
    """`livecmd custom`: synthesize, gather, extract, fit, tune, write `config.out`."""
    console = console or Console()
    started = time.monotonic()
    phrases = parse_phrases(config.words)
    if config.minutes <= 0:
        raise LivecmdError(f"--minutes {config.minutes:g}: give a positive time budget")
    if config.trainable < 1 or config.trainable > 8:
        raise LivecmdError(f"--trainable {config.trainable}: give 1 to 8 blocks")
    out = Path(config.out)
    if out.is_dir():
        raise LivecmdError(f"--out {out} is a folder: give a file name, e.g. words.safetensors")
    budget = config.minutes * 60
    if not config.negatives:
        console.print(f"[yellow]{NO_NEGATIVES}[/yellow]")
    with tempfile.TemporaryDirectory(prefix="livecmd-custom-") as tmp:
        work = Path(tmp)
        sources = gather(config, phrases, work, console)
        model = start_model(config.init, len(sources.labels))
        frozen = len(model.layers) - config.trainable
        left = budget - (time.monotonic() - started)
        tune_reserve = min(0.15 * max(left, 0), 180.0) if sources.tune_words else 0.0  # scoring the tuning negatives
        valid = kept_apart(sources, model, frozen)  # the kept-apart words (not their stream): balanced accuracy shown as it trains
        left = budget - (time.monotonic() - started) - tune_reserve
        console.print(f"transfer: blocks 1-{frozen - 1} of the shipped speech model frozen, the last {config.trainable} and a new "
                      f"{len(sources.labels)}-label output layer trained; {max(left, 0) / 60:.1f} min left for windows and epochs")
        with interrupts.StopRequest() as stop:  # Ctrl-C: train no more, then tune and write what was learned
            train_set = extract(model, frozen, windows(sources, config.seed, config.speed, config.room), first_pass(sources), 0.6 * left, console, stop)
            left = budget - (time.monotonic() - started) - tune_reserve
            fitted = fit_top(model, frozen, train_set, valid, left, console, config.seed, stop)
        if stop.requested:
            console.print(f"Ctrl-C: training stopped early ({len(train_set[1])} windows, {fitted['epochs']} epoch"
                          f"{'s' if fitted['epochs'] != 1 else ''}); tuning listen "
                          f"and writing {out} (Ctrl-C again to quit without writing)")
        meta = weights.WeightsMeta(
            arch="samplecnn", domain="speech", labels=sources.labels, sample_rate=SAMPLE_RATE, input_samples=WINDOW,
            training_data=f"livecmd custom: the words said by {sources.voices} TTS voices"
                          + (f" and takes from {config.takes}" if config.takes else ""),
            metrics={"kept_apart_balanced_accuracy": round(fitted["score"], 4) if valid is not None else None, "epochs_averaged": fitted["averaged"]},
            extra={"custom": {"words": [p.text for p in phrases], "windows": len(train_set[1]), "epochs": fitted["epochs"],
                              "trainable_blocks": config.trainable, "minutes": config.minutes, "per_voice": config.per_voice,
                              "voices": config.voices, "seed": config.seed, "speed": config.speed, "room": config.room, "stopped_early": stop.requested}},
        )
        heard = {"slow_speech": True}  # tuned as listen will hear them: people say a phrase slower than the voices
        draft = weights.save(work / "draft.safetensors", model, replace(meta, extra={**meta.extra, "listen": heard}))
        best, rows, raised = tune(draft, sources, console)
        listen = {**heard, "threshold": best["threshold"], "hold_ms": best["hold_ms"], "thresholds": best.get("thresholds", {}),
                  "max_utterance_ms": MAX_UTTERANCE_MS, "tuned_on": rows, "raised": raised}
        weights.save(out, model, replace(meta, extra={**meta.extra, "listen": listen}))
    own = "".join(f", {label} {value:g}" for label, value in listen["thresholds"].items())
    console.print(f"wrote {out}: labels {', '.join(sources.labels)}; listen threshold {best['threshold']:g}{own}, "
                  f"hold {best['hold_ms']:g} ms; "
                  f"{(time.monotonic() - started) / 60:.1f} min. Try `livecmd listen --weights {out}`"
                  + ("" if config.negatives else " (trained without --negatives: see above)"))
    if hint := louder(best, rows, out):
        console.print(hint)
    return out
