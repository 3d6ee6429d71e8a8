"""`livecmd synth`: a Speech Commands-style folder of words spoken by the offline TTS voices
installed here (the table is train/voices.py).

Layout, as in Speech Commands: OUT/WORD/SPEAKER_nohash_N.wav (a phrase in the folder of its label:
OUT/smart_mirror/), 16 kHz mono 16-bit, exactly 1 s.
SPEAKER is a hash of the voice's underlying speaker, so a split by speaker keeps every clip of a
voice (and of voices built from the same recording) on one side; N counts that speaker's takes
of the word. OUT/speakers.tsv says which voice each SPEAKER and N range is. The folder holds
words only: no `_background_noise_` (take it from the real set).

Each take draws, from a generator seeded by (--seed, voice, word, take), a speaking rate and
pitch (through the engine's own controls: espeak-ng -s/-p, flite and festival duration stretch,
pico's speed markup, piper's length scale; engines without a pitch control are pitch-shifted
by a tape-style speed change, with the rate compensated in the engine), a loudness and a place
in the second. The same seed gives the same files, whatever the number of workers.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import time
import zlib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from livecmd.audio import load, resample
from livecmd.domains import DOMAINS, SAMPLE_RATE, SILENCE
from livecmd.errors import LivecmdError
from livecmd.vocabulary import label_of, parse_phrases
from train.voices import ENGINES, NONFREE, VOICES, Prosody, RenderError, Voice, install_line

CLIP_SAMPLES = DOMAINS["speech"].input_samples  # 1 s, as every Speech Commands clip
MAX_SPEECH = round(0.95 * CLIP_SAMPLES)  # longer words are sped up to leave a little silence
TRIM_FRAME = 160  # samples: trimming looks at 10-ms frames
TRIM_DB = -60.0  # frames this far below the loudest are silence (sox's 0.1 %; 0.5 % clipped onsets),
TRIM_FLOOR_DB = 15.0  # and so are frames within this of the quietest tenth (flite and festival
# hiss at -45...-60 dB, where a fixed threshold would keep the whole file),
TRIM_MAX_DB = -30.0  # but never frames louder than this, whatever the floor.
MIN_SPEECH = round(0.1 * SAMPLE_RATE)  # a shorter word is an engine failure, not a take
RATE = (0.65, 1.1)  # speaking rate × engine default: espeak 114-193 wpm. TTS defaults say
# words faster than Speech Commands' speakers, so the range leans slow.
PITCH_SEMITONES = 1.0  # ± shift for engines without a pitch control; ±3 semitones hurt intelligibility
LEVEL_DBFS = (-26.0, -14.0)  # RMS of the speech part
PEAK = 10 ** (-1 / 20)  # never louder than -1 dBFS, so 16-bit PCM never clips
_SPEED_STEP_HZ = 80  # speed factors snap to 0.5 % steps, keeping resample_poly's up/down ≤ 200


@dataclass(frozen=True)
class Take:
    """The random choices for one utterance (all drawn by `draw_take`)."""

    prosody: Prosody  # what the engine is asked for
    speed: float  # tape-style speed change after the engine (1 = none): pitch for engines without one
    level_dbfs: float  # RMS of the speech part
    place: float  # 0..1: where the word starts within the free part of the second


@dataclass(frozen=True)
class Plan:
    """One synth run: what to say, with which voices, how often, where."""

    out: Path
    words: tuple[str, ...]
    voices: tuple[Voice, ...]
    per_voice: int
    seed: int
    workers: int


@dataclass(frozen=True)
class Result:
    clips: int
    failures: dict[str, list[str]]  # voice name -> one message per failed word or take
    seconds: dict[str, float]  # engine name -> worker seconds spent on its clips
    clips_by_engine: dict[str, int]


def default_words() -> tuple[str, ...]:
    """Speech Commands v0.01's 30 words: the 10 commands and 20 words for `_unknown_`."""
    return tuple(w for w in DOMAINS["speech"].labels if w != SILENCE)


def speaker_id(voice: Voice) -> str:
    """8 hex digits, like Speech Commands' speaker ids, from the voice's underlying speaker."""
    return hashlib.sha1(voice.speaker.encode()).hexdigest()[:8]


def clip_number(voice: Voice, take: int, per_voice: int) -> int:
    """N in SPEAKER_nohash_N: voices sharing a speaker get consecutive blocks of `per_voice`,
    in table order, so the names do not depend on which voices a run used."""
    same_speaker = [v for v in VOICES if v.speaker == voice.speaker]
    return same_speaker.index(voice) * per_voice + take


def draw_take(voice: Voice, word: str, take: int, seed: int) -> Take:
    """The take's random choices, from a generator of its own so that neither the order the
    workers finish in nor the other voices and words change them."""
    rng = np.random.default_rng([seed, zlib.crc32(voice.name.encode()), zlib.crc32(word.encode()), take])
    rate = rng.uniform(*RATE)
    pitch = rng.uniform(-1.0, 1.0)
    variant = voice.engine.variants[rng.integers(len(voice.engine.variants))]
    speed = 1.0 if voice.engine.native_pitch else _snap(2 ** (pitch * PITCH_SEMITONES / 12))
    # The speed change also shortens the word by `speed`: ask the engine for that much slower.
    return Take(Prosody(rate / speed, pitch, variant), speed, rng.uniform(*LEVEL_DBFS), rng.random())


def _snap(factor: float) -> float:
    """`factor` rounded up to the next _SPEED_STEP_HZ step of the sample rate."""
    return (SAMPLE_RATE + _SPEED_STEP_HZ * math.ceil(round((factor - 1) * SAMPLE_RATE / _SPEED_STEP_HZ, 6))) / SAMPLE_RATE


def speed_change(wave: np.ndarray, factor: float) -> np.ndarray:
    """`wave` (16 kHz) played `factor` times faster, as a tape would: shorter by and higher in
    pitch by `factor`. The factor snaps up to the next 0.5 % step (polyphase resampling)."""
    return resample(wave, round(_snap(factor) * SAMPLE_RATE), SAMPLE_RATE)


def trim(wave: np.ndarray) -> np.ndarray:
    """`wave` from its first to its last loud 10-ms frame (see TRIM_*); empty if all silent."""
    frames = len(wave) // TRIM_FRAME
    if frames == 0:
        return wave[:0]
    power = np.mean(np.square(wave[: frames * TRIM_FRAME].reshape(frames, TRIM_FRAME), dtype=np.float64), axis=1)
    loudest = power.max()
    if loudest == 0.0:
        return wave[:0]
    floor = np.quantile(power, 0.1)
    threshold = min(max(loudest * 10 ** (TRIM_DB / 10), floor * 10 ** (TRIM_FLOOR_DB / 10)), loudest * 10 ** (TRIM_MAX_DB / 10))
    loud = np.flatnonzero(power >= threshold)
    return wave[loud[0] * TRIM_FRAME : (loud[-1] + 1) * TRIM_FRAME]


def place_word(wave: np.ndarray, level_dbfs: float, place: float) -> np.ndarray:
    """A spoken word (16 kHz float) as a 1-s clip, (CLIP_SAMPLES,) float32: trimmed, sped up
    to MAX_SPEECH if longer (a pitch-raising speed change: the engines' rate ranges make that
    rare), levelled to `level_dbfs` RMS with the peak held under PEAK, and started at `place`
    (0..1) of the silence left over."""
    speech = trim(wave)
    if len(speech) < MIN_SPEECH:
        raise RenderError(f"the engine spoke only {len(speech) / SAMPLE_RATE:.2f} s")
    if len(speech) > MAX_SPEECH:
        speech = speed_change(speech, len(speech) / MAX_SPEECH)[:MAX_SPEECH]
    rms = float(np.sqrt(np.mean(np.square(speech, dtype=np.float64))))
    gain = min(10 ** (level_dbfs / 20) / rms, PEAK / float(np.abs(speech).max()))
    clip = np.zeros(CLIP_SAMPLES, dtype=np.float32)
    start = round(place * (CLIP_SAMPLES - len(speech)))
    clip[start : start + len(speech)] = speech * gain
    return clip


def _speak(plan: Plan, voice: Voice, word: str) -> tuple[int, float, list[str]]:
    """All takes of one word by one voice: (clips written, seconds, failures)."""
    started = time.perf_counter()
    takes = [draw_take(voice, word, k, plan.seed) for k in range(plan.per_voice)]
    written, failures = 0, []
    with tempfile.TemporaryDirectory(prefix="livecmd-synth-") as tmp:
        try:
            raws = voice.engine.render(voice, word, [t.prosody for t in takes], Path(tmp))
        except RenderError as e:
            return 0, time.perf_counter() - started, [f"{word}: {e}"]
        for k, (take, raw) in enumerate(zip(takes, raws)):
            try:
                wave = load(raw)
                if take.speed != 1.0:
                    wave = speed_change(wave, take.speed)
                clip = place_word(wave, take.level_dbfs, take.place)
            except (RenderError, LivecmdError) as e:
                failures.append(f"{word} take {k}: {e}")
                continue
            name = f"{speaker_id(voice)}_nohash_{clip_number(voice, k, plan.per_voice)}.wav"
            sf.write(plan.out / label_of(word) / name, clip, SAMPLE_RATE, subtype="PCM_16")
            written += 1
    return written, time.perf_counter() - started, failures


def synthesize(plan: Plan, console: Console | None = None) -> Result:
    """Write every (voice, word, take) of `plan` under plan.out, in parallel, with a progress bar.

    Workers are threads: the engines run as subprocesses (or, for piper, in ONNX Runtime), both
    outside the GIL. A job is one voice saying one word per_voice times, so festival starts once
    per word rather than once per take.
    """
    console = console or Console()
    for word in plan.words:
        (plan.out / label_of(word)).mkdir(parents=True, exist_ok=True)
    jobs = [(voice, word) for word in plan.words for voice in plan.voices]
    failures: dict[str, list[str]] = defaultdict(list)
    seconds: dict[str, float] = defaultdict(float)
    clips_by_engine: dict[str, int] = defaultdict(int)
    columns = (TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TextColumn("clips"), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress, ThreadPoolExecutor(plan.workers) as pool:
        task = progress.add_task("synth", total=len(jobs) * plan.per_voice)
        futures = {pool.submit(_speak, plan, voice, word): voice for voice, word in jobs}
        for future in as_completed(futures):
            voice = futures[future]
            written, spent, failed = future.result()
            clips_by_engine[voice.engine.name] += written
            seconds[voice.engine.name] += spent
            failures[voice.name] += failed
            progress.advance(task, plan.per_voice)
    _write_speakers(plan)
    failed = {voice: messages for voice, messages in failures.items() if messages}
    return Result(sum(clips_by_engine.values()), failed, dict(seconds), dict(clips_by_engine))


def _write_speakers(plan: Plan) -> None:
    lines = ["speaker\tvoice\tfirst_n\tlast_n"]
    for voice in plan.voices:
        first = clip_number(voice, 0, plan.per_voice)
        lines.append(f"{speaker_id(voice)}\t{voice.name}\t{first}\t{first + plan.per_voice - 1}")
    (plan.out / "speakers.tsv").write_text("\n".join(lines) + "\n")


def parse_words(spec: str) -> tuple[str, ...]:
    """Comma-separated words or phrases (default: `default_words()`), as `livecmd custom` and
    `record` take them (`livecmd.vocabulary`): each is written to the folder of its label
    ("smart mirror" -> smart_mirror/), the layout `eval --data` and `custom --takes` read."""
    if not spec.strip():
        return default_words()
    return tuple(p.text for p in parse_phrases(spec))


def no_voice_message() -> str:
    free = [v for v in VOICES if v.source != NONFREE]
    return (
        f"no text-to-speech voice is installed: {install_line(free)}; mbrola, pico and more "
        "festival voices need Debian contrib/non-free (`livecmd synth --list` names each package)"
    )


def select_voices(spec: str, installed: dict[Voice, bool]) -> tuple[Voice, ...]:
    """`all` (every installed voice) or comma-separated engine or engine:voice names. A named
    voice that is not installed is an error saying how to install it; an engine name takes
    that engine's installed voices."""
    if spec.strip() == "all":
        chosen = tuple(v for v in VOICES if installed[v])
        if not chosen:
            raise LivecmdError(no_voice_message())
        return chosen
    chosen: list[Voice] = []
    for name in (n.strip() for n in spec.split(",")):
        matched = [v for v in VOICES if name in (v.name, v.engine.name)]
        if not matched:
            engines = ", ".join(e.name for e in ENGINES)
            raise LivecmdError(
                f"unknown voice {name!r}: give all, an engine ({engines}) or an engine:voice name "
                "that `livecmd synth --list` shows"
            )
        usable = [v for v in matched if installed[v]]
        if not usable:
            raise LivecmdError(f"{name} is not installed: {install_line(matched)}")
        chosen += usable
    return tuple(dict.fromkeys(chosen))


def print_engines(installed: dict[Voice, bool], console: Console, every_voice: bool = False) -> None:
    """Which engines (or, with every_voice, which voices) are installed, and how to install
    the missing ones."""
    table = Table(title="Offline TTS voices", title_justify="left")
    if every_voice:
        for column in ("voice", "speaker", "installed", "packages"):
            table.add_column(column, no_wrap=column != "packages")
        for v in VOICES:
            table.add_row(v.name, speaker_id(v), "yes" if installed[v] else "no", f"{' '.join(v.packages)} ({v.source})")
    else:
        for column in ("engine", "voices found", "to install the missing ones"):
            table.add_column(column, no_wrap=column != "to install the missing ones")
        for engine in ENGINES:
            voices = [v for v in VOICES if v.engine is engine]
            missing = [v for v in voices if not installed[v]]
            table.add_row(engine.name, f"{len(voices) - len(missing)}/{len(voices)}", install_line(missing) or "-")
    console.print(table)


def _print_result(result: Result, plan: Plan, wall: float, console: Console) -> None:
    table = Table(title=f"{result.clips:,} clips in {plan.out} ({wall:.1f} s)", title_justify="left")
    for column in ("engine", "clips", "ms/clip per worker"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    for engine, clips in result.clips_by_engine.items():
        per_clip = 1000 * result.seconds[engine] / clips if clips else float("nan")
        table.add_row(engine, f"{clips:,}", f"{per_clip:.0f}")
    console.print(table)
    for voice, messages in result.failures.items():
        more = f"; and {len(messages) - 3} more" if len(messages) > 3 else ""
        console.print(f"[yellow]skipped: {voice}: {'; '.join(messages[:3])}{more}[/]")


def run(
    out: str | Path | None, words: str, voices: str, per_voice: int, seed: int, workers: int, list_only: bool,
    console: Console | None = None,
) -> Result | None:
    """The `livecmd synth` command: check the options, report the engines, synthesize."""
    console = console or Console()
    installed = {v: v.installed() for v in VOICES}
    if list_only:
        print_engines(installed, console, every_voice=True)
        return None
    if out is None:
        raise LivecmdError("say where to write the clips: --out DIR")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LivecmdError(f"cannot write clips into {out}: it is a file; give a folder with --out")
    plan = Plan(
        out=out, words=parse_words(words), voices=select_voices(voices, installed), per_voice=per_voice,
        seed=seed, workers=workers or len(os.sched_getaffinity(0)),
    )
    print_engines(installed, console)
    started = time.perf_counter()
    result = synthesize(plan, console)
    _print_result(result, plan, time.perf_counter() - started, console)
    if result.clips == 0:
        first = next(iter(result.failures.values()))[0]
        raise LivecmdError(f"every synthesis failed, e.g. {first}; check the engines with `livecmd synth --list`")
    return result
