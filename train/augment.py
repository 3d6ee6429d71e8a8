"""Speech augmentation: random time shift, background noise at a random SNR, random gain.

The usual Speech Commands recipe: words are recorded by thousands of people on their own
phones, so position within the second, room noise and level vary; showing the model each clip
shifted, in noise and at another level teaches it to ignore those. For listening to streams,
two more: words anywhere they fit whole (`whole_words`), and words cut by the window's edge
(`cut_word`), which the dataset trains as `_unknown_`. For voices recorded elsewhere than where
they will be heard (TTS voices, clips of other people's phones), a random room and microphone
(`room_and_microphone`). All functions take and return
float32 arrays of samples (shape (samples,)) and draw from the generator they are given, so a
sample's augmentation is reproducible from its seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import soxr
from scipy import signal

from livecmd.domains import SAMPLE_RATE


@dataclass(frozen=True)
class Augmentation:
    """Ranges drawn uniformly per example. The shift is a fraction of the window (0.1: up to
    100 ms either way in a 1-s speech window). With `whole_words` it is drawn only among the
    shifts that keep the clip's word (`word_span`) whole in the window: a word cut off at the
    window's edge is not the word any more, and listen's sliding windows see each word whole at
    every position it fits, so a wide shift with whole words teaches exactly those."""

    max_shift: float = 0.1
    whole_words: bool = False
    cut_words: float = 0.0  # the probability that a clip's word is cut by the window's edge (`cut_word`)
    noise_probability: float = 0.8
    snr_db: tuple[float, float] = (0.0, 30.0)
    gain_db: tuple[float, float] = (-12.0, 6.0)
    speed: float = 0.0  # each example played 1 ± up to this many times as fast (`change_speed`)
    room: float = 0.0  # each example in a random room and through a random microphone band, each this often (`room_and_microphone`)


def word_span(wave: np.ndarray, floor_db: float = 30.0) -> tuple[int, int]:
    """First and last sample of the 10-ms frames within `floor_db` of the loudest frame: where
    the word of a 1-s clip is (all of it, for a clip whose noise is that loud)."""
    frames = wave[: len(wave) // 160 * 160].reshape(-1, 160)
    energy = 10 * np.log10((frames**2).mean(axis=1) + 1e-12)
    loud = np.flatnonzero(energy > energy.max() - floor_db)
    return int(loud[0] * 160), int((loud[-1] + 1) * 160)


def centred_window(wave: np.ndarray, samples: int) -> np.ndarray:
    """`samples` of `wave` centred on its word (`word_span`): how a recording longer than the
    model's window (a take, a wake-word clip of several seconds) is scored or trained on; a
    shorter one is zero-padded at the end."""
    if len(wave) <= samples:
        out = np.zeros(samples, dtype=np.float32)
        out[: len(wave)] = wave
        return out
    start, end = word_span(wave)
    first = min(max(0, (start + end) // 2 - samples // 2), len(wave) - samples)
    return np.ascontiguousarray(wave[first : first + samples], dtype=np.float32)


def change_speed(wave: np.ndarray, factor: float) -> np.ndarray:
    """`wave` played `factor` times as fast (resampled with soxr: pitch and formants move with
    the tempo, as a higher or lower, quicker or slower voice would say it), its word centred in a
    window of the old length. Speed perturbation: from a few dozen TTS voices, voices the model
    has not heard."""
    faster = soxr.resample(wave, 1000.0 * factor, 1000.0).astype(np.float32)
    return centred_window(faster, len(wave))


def time_shift(wave: np.ndarray, shift: int) -> np.ndarray:
    """Move the clip `shift` samples later (earlier if negative), filling with zeros: the
    length is kept and nothing wraps around."""
    out = np.zeros_like(wave)
    if abs(shift) >= len(wave):
        return out
    if shift >= 0:
        out[shift:] = wave[: len(wave) - shift]
    else:
        out[:shift] = wave[-shift:]
    return out


def cut_word(wave: np.ndarray, rng: np.random.Generator, keep: tuple[float, float] = (0.2, 0.6)) -> np.ndarray:
    """The clip moved so that only a part of its word (a fraction drawn from `keep`) is left in
    the window, its head at the window's end or its tail at the window's start: what listen's
    sliding windows hold while a word comes in or goes out. Trained as `_unknown_`, such windows
    teach the model to wait for the whole word (the tail of "down" is not "on")."""
    start, end = word_span(wave)
    kept = max(1, int(rng.uniform(*keep) * (end - start)))
    shift = len(wave) - kept - start if rng.random() < 0.5 else kept - end
    return time_shift(wave, shift)


def add_noise(wave: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """`wave` plus `noise` (same length) scaled so that signal power / noise power is `snr_db`
    decibels. Digital silence stays silent (its power is zero), noise that is silent adds nothing."""
    signal_power = float(np.mean(wave.astype(np.float64) ** 2))
    noise_power = float(np.mean(noise.astype(np.float64) ** 2))
    if noise_power == 0.0:
        return wave
    scale = np.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return (wave + scale * noise).astype(np.float32)


def add_noise_under_voice(wave: np.ndarray, noise: np.ndarray, snr_db: float, voice_above: float = 1e-3) -> np.ndarray:
    """`wave` plus `noise` (same length) `snr_db` decibels below the power of `wave`'s voice: its
    samples above `voice_above` (-60 dBFS). For long talk, whose pauses (digital silence in TTS
    talk) would lower `add_noise`'s whole-wave power and so the noise with it, where a room's
    noise does not depend on how much is said. Without any voice, `wave` as it is."""
    voice = wave[np.abs(wave) > voice_above].astype(np.float64)
    noise_power = float(np.mean(noise.astype(np.float64) ** 2))
    if not len(voice) or noise_power == 0.0:
        return wave
    scale = np.sqrt(float(np.mean(voice**2)) / (noise_power * 10.0 ** (snr_db / 10.0)))
    return (wave + scale * noise).astype(np.float32)


def room_and_microphone(wave: np.ndarray, rng: np.random.Generator, probability: float = 0.5) -> np.ndarray:
    """`wave` said in a random room (with `probability`) and heard through a random microphone
    (with `probability` again), at its own level. The room: the direct sound plus a tail of
    exponentially decaying noise (RT60 0.15-0.6 s) 0-12 dB below it. The microphone: a band-pass
    from 80-300 Hz to 3.4-7.5 kHz, from a telephone's band to a good laptop's. TTS voices are dry
    and full-band; the people who say a user's words are in rooms and behind cheap microphones."""
    dry = wave.astype(np.float64)
    out = dry
    if rng.random() < probability:
        rt60 = float(rng.uniform(0.15, 0.6))
        t = np.arange(1, int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
        tail = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
        tail *= 10.0 ** (-rng.uniform(0.0, 12.0) / 20.0) / max(float(np.sqrt(np.sum(tail**2))), 1e-9)
        out = signal.fftconvolve(out, np.r_[1.0, tail])[: len(out)]
    if rng.random() < probability:
        band = [rng.uniform(80.0, 300.0), rng.uniform(3400.0, 7500.0)]
        out = signal.sosfilt(signal.butter(2, band, btype="bandpass", fs=SAMPLE_RATE, output="sos"), out)
    before, after = float(np.sqrt(np.mean(dry**2))), float(np.sqrt(np.mean(out**2)))
    if after == 0.0:
        return wave
    return np.clip(out * (before / after), -1.0, 1.0).astype(np.float32)


def gain(wave: np.ndarray, db: float) -> np.ndarray:
    """Louder or softer by `db` decibels, clipped to [-1, 1] like a real recording."""
    return np.clip(wave * np.float32(10.0 ** (db / 20.0)), -1.0, 1.0)


def augment(wave: np.ndarray, rng: np.random.Generator, noises: Sequence[np.ndarray], settings: Augmentation) -> np.ndarray:
    """Speed (when `speed` is set), shift, then noise from a random place in a random recording
    of `noises` (with probability `noise_probability`), then a room and a microphone (when `room`
    is set: the noise is in the room too, as a room's noise is), then gain."""
    if settings.speed:  # drawn only when set, so that runs without it augment as before
        wave = change_speed(wave, float(rng.uniform(1.0 - settings.speed, 1.0 + settings.speed)))
    limit = int(settings.max_shift * len(wave))
    earliest, latest = -limit, limit
    if settings.whole_words:
        start, end = word_span(wave)
        earliest, latest = max(earliest, -start), min(latest, len(wave) - end)
    wave = time_shift(wave, int(rng.integers(earliest, latest + 1)))
    long_enough = [n for n in noises if len(n) >= len(wave)]
    if long_enough and rng.random() < settings.noise_probability:
        noise = long_enough[int(rng.integers(len(long_enough)))]
        start = int(rng.integers(0, len(noise) - len(wave) + 1))
        wave = add_noise(wave, noise[start : start + len(wave)], float(rng.uniform(*settings.snr_db)))
    if settings.room:  # drawn only when set, so that runs without it augment as before
        wave = room_and_microphone(wave, rng, settings.room)
    return gain(wave, float(rng.uniform(*settings.gain_db)))
