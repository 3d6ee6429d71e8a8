"""Build examples/demo.wav and examples/demo.json from real Speech Commands clips.

    python examples/make_demo.py [--shared ../shared]

Twelve real commands and three other words ("unknown") from three speakers of part A of the
official Speech Commands v0.02 test set whom the shipped model never trained on (they are in its
held-out 10%), placed about 1.6 s apart over real background noise from the v0.01 release
(`_background_noise_`) at 20 dB SNR. The JSON gives each word's label, speaker, source file and
its start and end in the demo (seconds; where its energy is within 30 dB of its peak).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from livecmd import audio

RATE = 16_000
SPACING_S = 1.6
LEAD_S = 1.0
SNR_DB = 20.0
NOISE = "speech_commands_v0.01_sample/_background_noise_/doing_the_dishes.wav"
PART_A = "speech_commands_test_set_v0.02_part_a"
# (label folder, file): held-out speakers 97f4c236, 837a0f64 and aa80f517.
WORDS = [
    ("up", "97f4c236_nohash_0.wav"),
    ("left", "837a0f64_nohash_0.wav"),
    ("go", "aa80f517_nohash_0.wav"),
    ("_unknown_", "bed_837a0f64_nohash_0.wav.wav"),
    ("right", "97f4c236_nohash_0.wav"),
    ("stop", "837a0f64_nohash_0.wav"),
    ("on", "aa80f517_nohash_0.wav"),
    ("down", "97f4c236_nohash_0.wav"),
    ("_unknown_", "five_aa80f517_nohash_1.wav.wav"),
    ("off", "837a0f64_nohash_0.wav"),
    ("yes", "aa80f517_nohash_0.wav"),
    ("no", "97f4c236_nohash_0.wav"),
    ("_unknown_", "eight_97f4c236_nohash_1.wav.wav"),
    ("go", "837a0f64_nohash_1.wav"),
    ("stop", "aa80f517_nohash_1.wav"),
]


def _word_span(wave: np.ndarray) -> tuple[int, int]:
    """First and last sample of 10-ms frames within 30 dB of the loudest frame."""
    frames = wave[: len(wave) // 160 * 160].reshape(-1, 160)
    energy = 10 * np.log10((frames**2).mean(axis=1) + 1e-12)
    loud = np.flatnonzero(energy > energy.max() - 30)
    return int(loud[0] * 160), int((loud[-1] + 1) * 160)


def build(shared: Path, out: Path) -> None:
    data = shared / "data"
    length = int((LEAD_S + SPACING_S * len(WORDS) + 1.0) * RATE)
    speech = np.zeros(length, dtype=np.float32)
    truth = []
    for i, (label, name) in enumerate(WORDS):
        path = data / PART_A / label / name
        wave = audio.load(path)
        start, end = _word_span(wave)
        at = int((LEAD_S + SPACING_S * i) * RATE) - start
        speech[at : at + len(wave)] += wave
        truth.append({
            "label": label,
            "start": round((at + start) / RATE, 3),
            "end": round((at + end) / RATE, 3),
            "speaker": path.name.split("_nohash_")[0].rsplit("_", 1)[-1],
            "source": f"{PART_A}/{path.parent.name}/{path.name}",
        })
    noise = audio.load(data / NOISE)[:length]
    noise = np.pad(noise, (0, length - len(noise)))
    speech_rms = np.sqrt(np.mean(np.concatenate([speech[int(t["start"] * RATE) : int(t["end"] * RATE)] for t in truth]) ** 2))
    noise *= speech_rms / (np.sqrt(np.mean(noise**2)) * 10 ** (SNR_DB / 20))
    mix = speech + noise
    mix *= 0.9 / max(1e-9, np.abs(mix).max())
    sf.write(out / "demo.wav", mix, RATE, subtype="PCM_16")
    (out / "demo.json").write_text(json.dumps({"sample_rate": RATE, "words": truth}, indent=1) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parent
    parser.add_argument("--shared", type=Path, default=here.parent.parent / "shared")
    build(parser.parse_args().shared, here)
