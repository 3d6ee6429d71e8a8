"""Audio in: decode any clip soundfile can read, mix to mono, resample, pad or crop, segment.

All functions return float32 numpy arrays of samples at the requested rate (16 kHz for every
domain of the paper). On load and on `samples` (the chunks a program feeds the recognizer),
non-finite samples are zeroed and the rest clipped to full scale [-1, 1], so neither a NaN nor
a float file's 1e38 (which overflows to NaN inside a model) ever reaches one.
"""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from livecmd.domains import SAMPLE_RATE
from livecmd.errors import LivecmdError

NOT_FLOAT_AUDIO = 100.0
"""A float sample past this many times full scale is not float audio (40 dB over full scale):
it is integer PCM turned into floats without being scaled, as `int16.astype(float32)` does."""

NO_SIGNAL_DBFS = -90.0
"""A 10-ms frame below this holds no signal (a file's digital silence, the zeros a device sends
before it starts): no noise floor is measured on it, or a room's hum after it would pass for voice."""


def frame_db(frames: np.ndarray) -> np.ndarray:
    """The level of each row of `frames` (frames, samples) in dBFS, float32: -120 for digital
    silence. One measure for listen's said-alone rule and its gain control, which frame the
    same stream."""
    return (10 * np.log10(np.mean(np.square(frames, dtype=np.float64), axis=1) + 1e-12)).astype(np.float32)


def load(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode `path` (WAV of any subtype, FLAC, OGG, MP3, ...) to mono float32 at `sample_rate`.

    Raises LivecmdError when the file is missing, not audio, or holds no samples.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise LivecmdError(f"cannot read audio {path}: it {what}; give a WAV, FLAC, OGG or MP3 file")
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile reports bad files with several exception types
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise LivecmdError(f"cannot read audio {path}: {reason}; give a WAV, FLAC, OGG or MP3 file") from None
    if data.shape[0] == 0:
        raise LivecmdError(f"cannot use audio {path}: it holds no samples")
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return resample(finite(wave), rate, sample_rate)


def finite(wave: np.ndarray) -> np.ndarray:
    """`wave` with NaN and inf zeroed and the rest clipped to full scale [-1, 1], as a sound
    card or the training cache would: float files and programs may go past full scale."""
    return np.clip(np.nan_to_num(wave, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)


def samples(data: object) -> np.ndarray:
    """`data` as the float32 mono samples in [-1, 1] that the models read.

    Programs hand over audio in the form their source gives it, so: float arrays (or lists) as
    they are; integer PCM (the int16 of most audio callbacks, sockets and WAV readers, int32,
    uint8) scaled from its full scale, where taken as floats it would be a 32768-times overload
    that the model hears as nothing; one channel of 2-D data ((frames, 1), as sounddevice gives
    a mono stream) flattened. Then `finite`: one NaN from a driver or a decoder would otherwise
    turn every score after it into NaN. Raises LivecmdError for bytes, several channels, or
    float samples far past full scale (unscaled integers), saying what to do.
    """
    array = np.asarray(data)
    if array.dtype.kind not in "iuf":
        what = "bytes" if array.dtype.kind in "SV" or isinstance(data, (bytes, bytearray, memoryview)) else f"{array.dtype} data"
        raise LivecmdError(f"feed audio samples as a numpy array of floats or integer PCM, not {what}; "
                           "raw 16-bit PCM bytes: np.frombuffer(data, np.int16)")
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.ndim != 1:
        raise LivecmdError(f"feed mono samples, shape (samples,), not {array.shape}: mix the channels first, e.g. chunk.mean(axis=1)")
    if array.dtype.kind in "iu":
        info = np.iinfo(array.dtype)
        middle = (int(info.max) + 1) // 2 if array.dtype.kind == "u" else 0
        full = float(int(info.max) + 1 - middle)
        return ((array.astype(np.float64) - middle) / full).astype(np.float32)
    array = array.astype(np.float32, copy=False)
    peak = float(np.max(np.abs(array), initial=0.0, where=np.isfinite(array)))
    if peak > NOT_FLOAT_AUDIO:
        raise LivecmdError(f"feed float samples in [-1, 1], not up to {peak:g}: integer PCM turned into floats must be divided "
                           "by its full scale (32768 for int16), or fed as the integer array it was")
    return finite(array)


def resample(wave: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling (scipy), float32 out; a no-op when the rates agree."""
    wave = np.asarray(wave, dtype=np.float32)
    if from_rate == to_rate:
        return wave
    g = gcd(int(from_rate), int(to_rate))
    return resample_poly(wave, to_rate // g, from_rate // g).astype(np.float32)


def fit(wave: np.ndarray, samples: int) -> np.ndarray:
    """Exactly `samples` long: zero-padded at the end if shorter, cropped to the start if longer."""
    if len(wave) >= samples:
        return np.ascontiguousarray(wave[:samples], dtype=np.float32)
    out = np.zeros(samples, dtype=np.float32)
    out[: len(wave)] = wave
    return out


def windows_ending(stream: np.ndarray, start: int, ends: np.ndarray, samples: int, hop: int) -> np.ndarray:
    """The windows of `samples` that end at `ends` (stream sample indices, ascending, `hop`
    apart), cut from `stream`, the stream's samples from sample `start` on: a (windows, samples)
    copy, so that an engine may keep or change it."""
    first = int(ends[0]) - samples - start
    return np.array(np.lib.stride_tricks.sliding_window_view(stream, samples)[first : first + hop * (len(ends) - 1) + 1 : hop])


def segments(wave: np.ndarray, samples: int, count: int) -> np.ndarray:
    """`count` windows of `samples` spread evenly over the clip, as (count, samples).

    The paper averages segment scores into one clip score. Its segment counts do not tile the
    clips exactly (12 × 39,366 samples is longer than a 29-s MagnaTagATune clip at 16 kHz), so
    the windows start at evenly spaced offsets from the clip's start to its end and may overlap.
    A clip shorter than one window gives `count` copies of the padded clip.
    """
    wave = fit(wave, samples) if len(wave) < samples else wave
    starts = segment_starts(len(wave), samples, count)
    return np.stack([wave[s : s + samples] for s in starts]).astype(np.float32, copy=False)


def segment_starts(length: int, samples: int, count: int) -> np.ndarray:
    """Where `segments` cuts its `count` windows of `samples` in a `length`-sample clip (at
    least one window long): offsets in samples, evenly spaced from the start to the end."""
    return np.linspace(0, length - samples, count).round().astype(int)
