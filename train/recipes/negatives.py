"""Build the negative corpus: long recordings in which no command is said, for
`livecmd train --negatives` and `benchmarks/false_alarms.py`.

    python -m train.recipes.negatives OUT [--shared ../shared] [--speech-minutes 3] [--more-talk-minutes 9]

Every source is split by recording (a salted hash of its name, `train.datasets.base.held_out`)
into `OUT/train/<kind>/` and `OUT/bench/<kind>/`, which never share a recording; the kinds are
`music`, `speech` (speech without commands), `noise` and `mix` (speech over music, as a radio
or a television in the room). All files are 16 kHz mono 16-bit WAV; `OUT/MANIFEST.csv` names
each file's split, kind, source, licence and length. Nothing here goes into the repository.

- music: the game-music packages of Debian main below (GPL, CC BY(-SA), CC0; each package's
  copyright file is kept in `OUT/licences/`), fetched with `apt-get download` and unpacked with
  `dpkg-deb` (no installation), whole tracks.
- speech: every installed offline TTS voice (`livecmd synth --list`) reads paragraphs of the
  `fortunes` package (Debian main; public-domain quotations, jokes and sayings) from which every
  sentence holding one of the ten commands is dropped, plus near misses (`goal`, `upper`,
  `often`, `download`, `stopwatch`, `yesterday`, alone and in sentences; `know` in sentences
  only: alone it *is* "no"). Split by the voice's speaker, so the benchmark's voices are voices
  the model never heard.
- noise: the game sound effects of hyperrogue-music (CC BY-SA 4.0 and others) joined into
  minutes-long recordings, and, in the training part only, Speech Commands' six
  `_background_noise_` recordings (the model trains on them already).
- the real music and scene clips of ../shared/data go to the benchmark part only: real
  recordings the model is scored on are never trained on.
- mix: training speech over training music at 5-15 dB, benchmark speech over benchmark music.
- more talk, `OUT/train-talk/speech/`: the training part's voices only, reading other paragraphs
  for longer (`--more-talk-minutes` each): talk is what the model fires on most, and a second
  `--negatives` folder of it gives talk a larger share of the negative windows an epoch.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from rich.progress import track

from livecmd import audio
from livecmd.domains import SAMPLE_RATE, SPEECH_COMMANDS
from train.datasets.base import held_out

BENCH_PERCENT = 30.0  # of each source's recordings (of the voices' speakers for speech)
MUSIC_PACKAGES = {  # package: licence of its tracks (from its copyright file)
    "wesnoth-1.16-music": "GPL-2+",
    "warzone2100-music": "CC-BY-SA-3.0 / CC0",
    "ufoai-music": "GPL-2+ / CC-BY(-SA)-3.0",
    "nexuiz-music": "GPL-2+",
    "hyperrogue-music": "CC-BY-SA-3.0",
    "planetblupi-music-ogg": "GPL-3+",
}
EFFECTS_PACKAGE = "hyperrogue-music"  # its sounds/ folder: short game sound effects
TEXT_PACKAGE = "fortunes"
TEXT_LICENCE = "fortunes (Debian main): public-domain quotations; TTS voice licences per `livecmd synth --list`"
AUDIO_SUFFIXES = (".ogg", ".opus", ".mp3", ".flac", ".wav")
NEAR_MISSES = ("goal", "upper", "often", "download", "stopwatch", "yesterday")
NEAR_MISS_SENTENCES = (
    "I know what you mean.", "You know the way home.", "Our goal is clear.", "The upper shelf is full.",
    "We often walk there.", "The download took an hour.", "Where is the stopwatch?", "Yesterday was warm.",
    "Do you know the time?", "They scored a goal.", "She often reads at night.", "Download the file later.",
)


@dataclass(frozen=True)
class Row:
    split: str
    kind: str
    path: Path
    source: str
    licence: str
    seconds: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2].parent / "shared")
    parser.add_argument("--speech-minutes", type=float, default=3.0, help="minutes each TTS voice reads")
    parser.add_argument("--mix-minutes", type=float, default=20.0, help="minutes of speech over music per split")
    parser.add_argument("--more-talk-minutes", type=float, default=9.0, help="minutes each training voice reads into train-talk/ (0: none)")
    args = parser.parse_args()
    build(args.out, args.shared / "data", args.speech_minutes, args.mix_minutes, args.more_talk_minutes)


def build(out: Path, data: Path, speech_minutes: float, mix_minutes: float, more_talk_minutes: float) -> list[Row]:
    out.mkdir(parents=True, exist_ok=True)
    packages = _unpack(out, [*MUSIC_PACKAGES, TEXT_PACKAGE])
    rows = _music(out, packages) + _effects(out, packages[EFFECTS_PACKAGE]) + _speech(out, packages[TEXT_PACKAGE], speech_minutes)
    if more_talk_minutes:
        rows += _speech(out, packages[TEXT_PACKAGE], more_talk_minutes, only="train", folder="train-talk")
    rows += _shared(out, data)
    rows += _mixes(out, rows, mix_minutes)
    with open(out / "MANIFEST.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["split", "kind", "file", "source", "licence", "seconds"])
        for r in rows:
            writer.writerow([r.split, r.kind, r.path.relative_to(out), r.source, r.licence, f"{r.seconds:.1f}"])
    for split in ("train", "train-talk", "bench"):
        for kind in ("music", "speech", "noise", "mix"):
            hours = sum(r.seconds for r in rows if r.split == split and r.kind == kind) / 3600
            print(f"{split:5} {kind:6} {hours:6.2f} h")
    return rows


def _unpack(out: Path, packages: list[str]) -> dict[str, Path]:
    """apt-get download + dpkg-deb -x each package into OUT/.packages/NAME (once)."""
    root = out / ".packages"
    found = {}
    for name in packages:
        folder = root / name
        if not (folder / "usr").is_dir():
            with tempfile.TemporaryDirectory() as tmp:
                subprocess.run(["apt-get", "download", name], cwd=tmp, check=True, capture_output=True)
                deb = next(Path(tmp).glob("*.deb"))
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                subprocess.run(["dpkg-deb", "-x", str(deb), str(folder)], check=True)
        copyright_file = folder / "usr/share/doc" / name / "copyright"
        if copyright_file.is_file():
            (out / "licences").mkdir(exist_ok=True)
            shutil.copyfile(copyright_file, out / "licences" / f"{name}.copyright")
        found[name] = folder
    return found


def _split(key: str) -> str:
    return "bench" if held_out(key, BENCH_PERCENT) else "train"


def _target(out: Path, split: str, kind: str, name: str) -> Path:
    return out / split / kind / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', name)}.wav"


def _write(out: Path, split: str, kind: str, name: str, wave: np.ndarray) -> Path:
    path = _target(out, split, kind, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.clip(wave, -1, 1), SAMPLE_RATE, subtype="PCM_16")
    return path


def _tracks(folder: Path) -> list[tuple[str, bytes | Path]]:
    """Every audio file of an unpacked package, game archives (.pk3, zip files) opened."""
    items: list[tuple[str, bytes | Path]] = []
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".pk3":
            with zipfile.ZipFile(path) as z:
                items += [(f"{path.name}/{n}", z.read(n)) for n in sorted(z.namelist()) if n.endswith(AUDIO_SUFFIXES)]
        elif path.suffix in AUDIO_SUFFIXES:
            items.append((str(path.relative_to(folder)), path))
    return items


def _decode(item: bytes | Path) -> np.ndarray:
    if isinstance(item, bytes):
        with tempfile.NamedTemporaryFile(suffix=".ogg") as f:
            f.write(item)
            f.flush()
            return audio.load(f.name, SAMPLE_RATE)
    return audio.load(item, SAMPLE_RATE)


def _music(out: Path, packages: dict[str, Path]) -> list[Row]:
    rows = []
    for name, licence in MUSIC_PACKAGES.items():
        tracks = [t for t in _tracks(packages[name]) if "/sounds/" not in t[0] and not t[0].startswith("sounds/")]
        for rel, item in track(tracks, description=f"music {name}"):
            key = f"{name}/{rel}"
            split = _split(key)
            done = _target(out, split, "music", f"{name}--{Path(rel).stem}")
            if done.is_file():  # a rerun keeps what an earlier run decoded
                rows.append(Row(split, "music", done, key, licence, sf.info(done).duration))
                continue
            try:
                wave = _decode(item)
            except Exception as e:  # one odd file must not stop the corpus
                print(f"skipped {key}: {e}")
                continue
            if len(wave) < 10 * SAMPLE_RATE:  # jingles: too short to count as music someone plays
                continue
            rows.append(Row(split, "music", _write(out, split, "music", f"{name}--{Path(rel).stem}", wave), key, licence, len(wave) / SAMPLE_RATE))
    return rows


def _effects(out: Path, folder: Path) -> list[Row]:
    """Sound effects joined in a random order with short gaps into ~2-minute recordings."""
    effects = [(rel, item) for rel, item in _tracks(folder) if "sounds" in rel]
    by_split: dict[str, list[np.ndarray]] = {"train": [], "bench": []}
    for rel, item in effects:
        by_split[_split(f"{EFFECTS_PACKAGE}/{rel}")].append(_decode(item))
    rows = []
    rng = random.Random(0)
    for split, waves in by_split.items():
        rng.shuffle(waves)
        pieces, total, part = [], 0, 0
        for i, w in enumerate(waves):
            gap = np.zeros(int(rng.uniform(0.2, 1.5) * SAMPLE_RATE), np.float32)
            pieces += [w, gap]
            total += len(w) + len(gap)
            if total > 120 * SAMPLE_RATE or i == len(waves) - 1:
                wave = np.concatenate(pieces)
                rows.append(Row(split, "noise", _write(out, split, "noise", f"effects-{part:02d}", wave),
                                f"{EFFECTS_PACKAGE}/sounds", "CC-BY-SA-4.0 / CC-BY-3.0 / CC0", len(wave) / SAMPLE_RATE))
                pieces, total, part = [], 0, part + 1
    return rows


def sentences(folder: Path) -> list[str]:
    """Sentences of the fortunes files that hold none of the ten commands as a word: 4-25
    plain ASCII words each."""
    banned = re.compile(r"\b(" + "|".join(SPEECH_COMMANDS) + r")\b", re.IGNORECASE)
    found = []
    for path in sorted((folder / "usr/share/games/fortunes").glob("*")):
        if path.suffix or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        for fortune in text.split("\n%\n"):
            for s in re.split(r"(?<=[.!?])\s+", " ".join(fortune.split())):
                words = s.split()
                if 4 <= len(words) <= 25 and s.isascii() and re.fullmatch(r"[A-Za-z ,.'!?;:-]+", s) and not banned.search(s):
                    found.append(s)
    return sorted(set(found))


def reading_voices(only: str | None = None) -> list:
    """The installed TTS voices of split `only` ("train" or "bench": split by speaker, so that
    the benchmark's voices are never heard in training), or all of them."""
    from train.voices import VOICES

    return [v for v in VOICES if v.installed() and only in (None, _split(f"voice:{v.speaker}"))]


def _speech(out: Path, text_folder: Path, minutes: float, only: str | None = None, folder: str | None = None) -> list[Row]:
    """Each installed voice (of split `only`, or all) reading `minutes` of paragraphs into its
    split's speech/ folder (or `folder`/speech/)."""
    from train.voices import Prosody, RenderError

    pool = sentences(text_folder)
    rng = random.Random(1)
    rows = []
    voices = reading_voices(only)
    if not voices:
        raise SystemExit("no offline TTS voice is installed: see `livecmd synth --list`")
    for voice in track(voices, description="speech" if folder is None else folder):
        split = folder or _split(f"voice:{voice.speaker}")
        done = _target(out, split, "speech", f"tts-{voice.name}")
        if done.is_file():  # a rerun keeps what an earlier run spoke
            rows.append(Row(split, "speech", done, f"{voice.name} reading {TEXT_PACKAGE}", TEXT_LICENCE, sf.info(done).duration))
            continue
        pieces: list[np.ndarray] = []
        total, failures = 0, 0
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "w").mkdir()
            while total < minutes * 60 * SAMPLE_RATE and failures < 20:
                paragraph = " ".join(rng.sample(pool, 4) + [rng.choice(NEAR_MISS_SENTENCES)])
                near = rng.choice(NEAR_MISSES)
                prosody = Prosody(rate=rng.uniform(0.85, 1.2), pitch=rng.uniform(-0.5, 0.5))
                try:
                    [raw] = voice.engine.render(voice, paragraph, [prosody], Path(tmp))
                    [word] = voice.engine.render(voice, near, [prosody], Path(tmp) / "w")
                except (RenderError, ValueError, ImportError) as e:  # mbrola lacks some diphones; a voice may not load
                    failures += 1
                    print(f"skipped a paragraph of {voice.name}: {e}")
                    continue
                for path in (raw, word):
                    wave = audio.load(path, SAMPLE_RATE)
                    gap = np.zeros(int(rng.uniform(0.3, 1.5) * SAMPLE_RATE), np.float32)
                    pieces += [wave / max(1e-3, np.abs(wave).max()) * rng.uniform(0.3, 0.9), gap]
                    total += len(wave) + len(gap)
        if pieces:
            wave = np.concatenate(pieces).astype(np.float32)
            rows.append(Row(split, "speech", _write(out, split, "speech", f"tts-{voice.name}", wave),
                            f"{voice.name} reading {TEXT_PACKAGE}", TEXT_LICENCE, len(wave) / SAMPLE_RATE))
    return rows


def _shared(out: Path, data: Path) -> list[Row]:
    """The real music and scene clips of ../shared/data: benchmark only; Speech Commands'
    background noise (which the speech model trains on anyway): training only."""
    rows = []
    for path in sorted((data / "speech_commands_v0.01_sample" / "_background_noise_").glob("*.wav")):
        wave = audio.load(path, SAMPLE_RATE)
        rows.append(Row("train", "noise", _write(out, "train", "noise", f"background-{path.stem}", wave),
                        f"shared/data/{path.relative_to(data)}", "CC-BY-4.0 (Speech Commands)", len(wave) / SAMPLE_RATE))
    for kind, folder in (("music", data / "music"), ("noise", data / "scenes")):
        for path in sorted(p for p in folder.rglob("*") if p.suffix in AUDIO_SUFFIXES):
            wave = audio.load(path, SAMPLE_RATE)
            rows.append(Row("bench", kind, _write(out, "bench", kind, f"shared-{path.stem}", wave),
                            f"shared/data/{path.relative_to(data)}", "see shared/data", len(wave) / SAMPLE_RATE))
    return rows


def _mixes(out: Path, rows: list[Row], minutes: float) -> list[Row]:
    """Speech over music, 5-15 dB above it, in 1-minute recordings."""
    rng = np.random.default_rng(2)
    mixed = []
    for split in ("train", "bench"):
        music = [r for r in rows if r.split == split and r.kind == "music" and r.seconds >= 60]
        speech = [r for r in rows if r.split == split and r.kind == "speech" and r.seconds >= 60]
        if not music or not speech:
            continue
        for k in range(int(minutes)):
            m, s = music[rng.integers(len(music))], speech[rng.integers(len(speech))]
            n = 60 * SAMPLE_RATE
            mw, sw = audio.load(m.path), audio.load(s.path)
            a, b = int(rng.integers(0, len(mw) - n + 1)), int(rng.integers(0, len(sw) - n + 1))
            mw, sw = mw[a : a + n], sw[b : b + n]
            snr = rng.uniform(5, 15)
            scale = np.sqrt(np.mean(sw**2) / max(1e-12, np.mean(mw**2)) / 10 ** (snr / 10))
            wave = sw + scale * mw
            wave *= 0.9 / max(1e-6, np.abs(wave).max())
            mixed.append(Row(split, "mix", _write(out, split, "mix", f"mix-{k:02d}", wave),
                             f"{s.path.name} over {m.path.name} at {snr:.0f} dB", f"{s.licence}; {m.licence}", 60.0))
    return mixed


if __name__ == "__main__":
    main()
