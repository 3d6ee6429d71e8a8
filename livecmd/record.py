"""`livecmd record`: your own takes of your words, from the microphone, for `livecmd custom --takes`.

Each take is a fixed stretch of microphone audio (`seconds`) during which a Rich view shows the
word to say and a level meter. The take is then checked: the loudest sound in it (loud 10-ms
frames, joined across pauses shorter than `GAP_S`, so a phrase stays one sound) must be whole
(not touching the start or end of the stretch), not clipped and loud enough above the room's
noise; a rejected take says why and is asked for again. A kept take is trimmed to that sound
with `PAD_S` of the room around it and written as OUT/LABEL/SPEAKER_nohash_N.wav, 16 kHz mono
16-bit: the Speech Commands layout `livecmd custom --takes` and `livecmd eval --data` read.

A take through a narrowband microphone (nothing above 4 kHz: a Bluetooth headset in its
hands-free mode, `livecmd.stream.band`) is kept, since the user may listen through that
microphone too, and said: once in full, then on each such take's line.
"""

from __future__ import annotations

import getpass
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.text import Text

from livecmd.domains import SAMPLE_RATE
from livecmd.errors import LivecmdError
from livecmd.stream import sources
from livecmd.stream.band import BandMeter
from livecmd.stream.ring import Ring
from livecmd.vocabulary import Phrase, parse_phrases

FRAME = SAMPLE_RATE // 100  # 10-ms frames for the level meter and the trimming
GAP_S = 0.3  # quiet shorter than this inside a sound does not split it ("smart ... mirror")
PAD_S = 0.2  # room audio kept either side of the trimmed sound
EDGE_S = 0.05  # a sound this close to the stretch's start or end was cut off
CLIP_LEVEL = 0.99  # a sample this close to full scale is clipped
CLIPPED_SHARE = 0.001  # more than this share of the sound's samples clipped: rejected
MIN_LEVEL_DBFS = -45.0  # the sound's RMS must reach this
MIN_ABOVE_NOISE_DB = 12.0  # and be this far above the quietest tenth of the stretch (the room)
MIN_SOUND_S = 0.12  # shorter is a click, not a word
METER_FLOOR_DBFS = -60.0
NARROWBAND_TAKES = ("nothing above 4 kHz reaches the microphone: a headset in its hands-free mode or a phone line? "
                    "Its takes keep only what it hears: switch the headset to high quality and record them again, "
                    "or keep them if you will listen through this microphone")


@dataclass(frozen=True)
class RecordSettings:
    words: str  # comma-separated, as `livecmd custom --words`
    takes: int
    out: Path
    mic: str | None = None  # device index or name part; None: the default input
    seconds: float = 2.5  # length of each take's stretch
    tries: int = 5  # attempts per take before giving up
    speaker: str | None = None  # name for the files' speaker id; None: the login name


@dataclass(frozen=True)
class Verdict:
    ok: bool
    why: str  # for people: what was wrong, or what was kept
    sound: tuple[int, int] = (0, 0)  # start and end sample of the sound in the stretch


def level_dbfs(wave: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if len(wave) else 0.0
    return 20 * np.log10(max(rms, 1e-9))


def judge(wave: np.ndarray) -> Verdict:
    """Whether a stretch of microphone audio (16 kHz float32) holds one usable take, and where."""
    frames = len(wave) // FRAME
    power = np.mean(np.square(wave[: frames * FRAME].reshape(frames, FRAME), dtype=np.float64), axis=1)
    room = 10 * np.log10(max(float(np.quantile(power, 0.1)), 1e-12))
    loud = 10 * np.log10(np.maximum(power, 1e-12)) > max(room + MIN_ABOVE_NOISE_DB, MIN_LEVEL_DBFS - 10)
    # Sounds: runs of loud frames, joined across short pauses; the loudest one is the take.
    sounds: list[list[int]] = []
    for k in np.flatnonzero(loud):
        if sounds and k - sounds[-1][1] <= GAP_S * 100:
            sounds[-1][1] = k
        else:
            sounds.append([k, k])
    if not sounds:
        return Verdict(False, f"too quiet: nothing stood out from the room ({room:.0f} dBFS); speak up or move closer")
    start, end = max(sounds, key=lambda s: power[s[0] : s[1] + 1].sum())
    first, last = start * FRAME, (end + 1) * FRAME
    sound = wave[first:last]
    if len(sound) < MIN_SOUND_S * SAMPLE_RATE:
        return Verdict(False, f"only a {len(sound) / SAMPLE_RATE:.2f}-s sound: say the whole word")
    if first < EDGE_S * SAMPLE_RATE or last > len(wave) - EDGE_S * SAMPLE_RATE:
        return Verdict(False, "cut off: start after the prompt appears and finish before the bar runs out")
    if np.mean(np.abs(sound) >= CLIP_LEVEL) > CLIPPED_SHARE:
        return Verdict(False, "clipped: too loud for the input; speak softer, further away, or lower the input gain")
    level = level_dbfs(sound)
    if level < MIN_LEVEL_DBFS:
        return Verdict(False, f"too quiet ({level:.0f} dBFS): speak up or move closer")
    return Verdict(True, f"kept: {len(sound) / SAMPLE_RATE:.2f} s at {level:.0f} dBFS", (first, last))


def narrowband(wave: np.ndarray) -> bool:
    """Whether a stretch of microphone audio (16 kHz) came through a microphone that hears nothing
    above 4 kHz, by listen's measure (`livecmd.stream.band`)."""
    meter = BandMeter(SAMPLE_RATE)
    meter.feed(wave)
    return meter.narrowband


def speaker_id(name: str) -> str:
    """8 hex digits, like Speech Commands' speaker ids."""
    return hashlib.sha1(name.encode()).hexdigest()[:8]


def _view(phrase: Phrase, take: int, takes: int, level: float, elapsed: float, seconds: float, note: str) -> Group:
    meter = ProgressBar(total=-METER_FLOOR_DBFS, completed=max(0.0, level - METER_FLOOR_DBFS), width=40)
    clock = ProgressBar(total=seconds, completed=min(elapsed, seconds), width=40)
    return Group(
        Text.assemble(("Say  ", "bold"), (f"“{phrase.text}”", "bold green"), f"   take {take} of {takes}"),
        Text.assemble("level ", (f"{level:6.1f} dBFS ", "cyan")), meter,
        Text("time  "), clock,
        Text(note, style="yellow"),
    )


def capture(device: int, seconds: float, on_block) -> np.ndarray:
    """`seconds` of mono 16-kHz audio from input `device`; `on_block(recent, elapsed)` is called
    about every 50 ms with the last 50 ms, for the meter."""
    length = round(seconds * SAMPLE_RATE)
    ring = Ring(length + SAMPLE_RATE)
    mic = sources.MicSource(ring, device, SAMPLE_RATE, FRAME * 5)
    mic.start()
    started = time.monotonic()
    try:
        while ring.written < length and mic.failure is None:
            time.sleep(0.05)
            recent = ring.read(ring.written, min(ring.written, FRAME * 5)) if ring.written else None
            on_block(recent if recent is not None else np.zeros(1, np.float32), time.monotonic() - started)
    finally:
        mic.stop()
    if mic.failure is not None:
        raise LivecmdError(mic.failure)
    wave = ring.read(length, length)
    if wave is None:
        raise LivecmdError("the microphone delivered audio too late to keep: close other programs using it and try again")
    return wave


def record(settings: RecordSettings, console: Console | None = None) -> dict[str, list[Path]]:
    """`livecmd record`: every take of every word, checked and written; label -> files."""
    console = console or Console()
    phrases = parse_phrases(settings.words)
    if settings.takes < 1:
        raise LivecmdError(f"--takes {settings.takes}: give at least one take per word")
    if settings.seconds < 1.0:
        raise LivecmdError(f"--seconds {settings.seconds:g}: give each take at least 1 s")
    if settings.out.exists() and not settings.out.is_dir():
        raise LivecmdError(f"--out {settings.out} is a file: give a folder")
    device = sources.find_microphone(settings.mic)
    who = speaker_id(settings.speaker or getpass.getuser())
    written: dict[str, list[Path]] = {}
    narrow = 0  # takes through a narrowband microphone
    with Live(console=console, auto_refresh=False, transient=False) as live:
        for phrase in phrases:
            folder = settings.out / phrase.label
            folder.mkdir(parents=True, exist_ok=True)
            start_n = len(list(folder.glob(f"{who}_nohash_*.wav")))  # takes of earlier sessions stay
            written[phrase.label] = []
            for take in range(1, settings.takes + 1):
                note = ""
                for attempt in range(1, settings.tries + 1):
                    def show(recent: np.ndarray, elapsed: float) -> None:
                        live.update(_view(phrase, take, settings.takes, level_dbfs(recent), elapsed, settings.seconds, note), refresh=True)

                    wave = capture(device, settings.seconds, show)
                    verdict = judge(wave)
                    if verdict.ok:
                        break
                    note = f"try {attempt + 1} of {settings.tries}: the last take was {verdict.why}"
                    console.print(f"{phrase.text}, take {take}: {verdict.why}")
                else:
                    raise LivecmdError(f"no usable take of {phrase.text!r} in {settings.tries} tries (the last: {verdict.why}); "
                                       "check the input with `livecmd listen --list-devices` and its level")
                pad = round(PAD_S * SAMPLE_RATE)
                first, last = verdict.sound
                path = folder / f"{who}_nohash_{start_n + take - 1}.wav"
                sf.write(path, wave[max(0, first - pad) : last + pad], SAMPLE_RATE, subtype="PCM_16")
                written[phrase.label].append(path)
                band = ""
                if narrowband(wave):
                    if not narrow:
                        console.print(NARROWBAND_TAKES, style="bold yellow")
                    narrow += 1
                    band = ", nothing above 4 kHz"
                console.print(f"{phrase.text}, take {take}: {verdict.why}{band} -> {path}")
    through = f" ({narrow} of them with nothing above 4 kHz)" if narrow else ""
    console.print(f"{sum(len(v) for v in written.values())} takes in {settings.out}{through}; "
                  f"learn them with `livecmd custom --words {settings.words!r} --takes {settings.out} --out words.safetensors`")
    return written
