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

import soundfile as sf

from livecmd import audio
from train import streams

RATE = 16_000
SPACING_S = 1.6
LEAD_S = 1.0
SNR_DB = 20.0
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


def build(shared: Path, out: Path) -> None:
    data = shared / "data"
    words = [(label, data / streams.PART_A / label / name) for label, name in WORDS]
    mix, truth = streams.build(words, audio.load(data / streams.NOISE), RATE, SNR_DB, SPACING_S, LEAD_S, source_root=data)
    sf.write(out / "demo.wav", mix, RATE, subtype="PCM_16")
    (out / "demo.json").write_text(json.dumps({"sample_rate": RATE, "words": truth}, indent=1) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parent
    parser.add_argument("--shared", type=Path, default=here.parent.parent / "shared")
    build(parser.parse_args().shared, here)
