"""Where the audio comes from: the microphone (PortAudio through sounddevice) or a decoded clip.

Both only write float32 mono samples at the model's rate into a `Ring`; neither knows about
windows or models. sounddevice is imported only for the microphone: its import fails where the
PortAudio library is missing, and `livecmd listen --input FILE` must work there.
"""

from __future__ import annotations

import threading
import time
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from livecmd.errors import LivecmdError
from livecmd.stream.ring import Ring

_HINT = "use --input FILE to listen to a clip, or --list-devices to see the audio inputs"


def sounddevice() -> ModuleType:
    """The sounddevice module, or a user error saying how to get PortAudio."""
    try:
        import sounddevice as sd
    except OSError:  # sounddevice raises OSError when the PortAudio library is not found
        raise LivecmdError(
            "the microphone needs the PortAudio library, which is not installed: "
            "`apt-get install libportaudio2` (or your system's PortAudio package), or use --input FILE"
        ) from None
    return sd


def input_devices() -> list[dict[str, Any]]:
    """PortAudio's capture devices: index, name, host API, input channels, default rate, and
    whether it is the default input."""
    sd = sounddevice()
    try:
        default = sd.default.device[0]
        hostapis = sd.query_hostapis()
        return [
            {
                "index": d["index"],
                "name": d["name"],
                "hostapi": hostapis[d["hostapi"]]["name"],
                "channels": d["max_input_channels"],
                "rate": d["default_samplerate"],
                "default": d["index"] == default,
            }
            for d in sd.query_devices()
            if d["max_input_channels"] > 0
        ]
    except sd.PortAudioError as e:
        raise LivecmdError(f"PortAudio cannot list the audio devices ({e}); use --input FILE") from None


def find_microphone(mic: str | None) -> int:
    """The PortAudio index of the input device `mic` names (an index, or part of a name as
    `--list-devices` shows it); the default input when None. A user error when there is none."""
    sd = sounddevice()
    wanted: int | str | None = int(mic) if mic is not None and mic.strip().isdigit() else mic
    try:
        return int(sd.query_devices(wanted, kind="input")["index"])
    except (ValueError, sd.PortAudioError):
        if mic is None:
            raise LivecmdError(f"no microphone found: {_HINT}") from None
        raise LivecmdError(f"unknown --mic {mic!r}: no audio input matches it; {_HINT}") from None


class Source(Protocol):
    """What the listen loop needs of a source: it writes into its ring between start and stop
    (and closes the ring when its audio ends)."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


class MicSource:
    """Captures mono float32 at `sample_rate` from PortAudio input device `device`.

    The callback runs on PortAudio's audio thread and only copies the block into the ring:
    anything slower there would make the driver drop audio before we ever see it.
    """

    def __init__(self, ring: Ring, device: int, sample_rate: int, block: int):
        sd = sounddevice()
        self.ring = ring
        self.name = str(sd.query_devices(device)["name"])
        try:
            self._stream = sd.InputStream(
                device=device, channels=1, samplerate=sample_rate, dtype="float32",
                blocksize=block, callback=self._callback,
            )
        except sd.PortAudioError as e:
            raise LivecmdError(
                f"cannot capture from {self.name!r} at {sample_rate} Hz mono ({e}); "
                "pick another input with --mic (`pulse` and `default` resample), see --list-devices"
            ) from None

    def _callback(self, indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        self.ring.write(indata[:, 0])

    def start(self) -> None:
        self._stream.start()

    def stop(self) -> None:
        self._stream.stop()
        self._stream.close()


class FileSource:
    """Writes a decoded clip into the ring from a thread, as a microphone would.

    Paced (`realtime=True`): each block is written when its last sample would have arrived
    from a microphone, so a demo looks live and latency means what it means live. Fast: as
    fast as the reader takes it, waiting for room rather than overwriting, so nothing is
    dropped. The ring is closed at the end of the clip.
    """

    def __init__(self, ring: Ring, wave: np.ndarray, sample_rate: int, block: int, realtime: bool):
        self.ring = ring
        self.wave = np.ascontiguousarray(wave, dtype=np.float32)
        self.sample_rate = sample_rate
        self.block = block
        self.realtime = realtime
        self.name = "file"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livecmd-file-source", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        start = time.perf_counter()
        position = 0
        while position < len(self.wave) and not self._stop.is_set():
            if self.realtime:
                n = min(self.block, len(self.wave) - position)
                due = start + (position + n) / self.sample_rate
                self._stop.wait(max(0.0, due - time.perf_counter()))
            else:
                n = min(self.block, len(self.wave) - position, self.ring.room(timeout=0.1))
            if n and not self._stop.is_set():
                self.ring.write(self.wave[position : position + n])
                position += n
        self.ring.close()

