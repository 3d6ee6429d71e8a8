"""Where the audio comes from: the microphone (PortAudio through sounddevice) or a decoded clip.

Both only write float32 mono samples at the model's rate into a `Ring`; neither knows about
windows or models. sounddevice is imported only for the microphone: its import fails where the
PortAudio library is missing, and `livecmd listen --input FILE` must work there.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from types import ModuleType
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import soxr
from rich.table import Table

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


def device_table(devices: Sequence[dict[str, Any]]) -> Table:
    """The audio input devices as `--list-devices` prints them (`input_devices()` rows)."""
    table = Table(title="Audio input devices (use --mic INDEX or --mic NAME)")
    if not devices:
        table.caption = "none: PortAudio sees no capture device here; use --input FILE"
    for column in ("index", "name", "host API", "channels", "default rate", "default"):
        table.add_column(column, justify="right" if column in ("index", "channels", "default rate") else "left")
    for d in devices:
        table.add_row(
            str(d["index"]), d["name"], d["hostapi"], str(d["channels"]),
            f"{d['rate']:.0f} Hz", "*" if d["default"] else "",
        )
    return table


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


STALL_SECONDS = 2.0
"""A microphone that has sent nothing for this long (100 of its 20-ms blocks) is taken as gone."""

CLOSE_SECONDS = 1.0
"""How long stopping a microphone may take before its stream is left behind (a hung server)."""


class Source(Protocol):
    """What the listen loop needs of a source: it writes into its ring between start and stop
    (and closes the ring when its audio ends). `failure` says why it ended early, if it did;
    `lost`, while it is waiting for its microphone to come back (`ReconnectingMic`), why."""

    name: str
    failure: str | None
    lost: str | None

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Capture:
    """PortAudio's input callback: each block into the ring, through a streaming resampler when
    the device captures at another rate than the model's, and the input PortAudio says it
    discarded (an input overflow: this process did not take the blocks in time) counted as
    dropped audio. How much was lost comes from the blocks' capture timestamps where the host
    API gives them (the gap between where this block starts and where the last one ended);
    without them, one block, the least an overflow loses."""

    def __init__(self, ring: Ring):
        self.ring = ring
        self.last = time.monotonic()  # when the last block arrived
        self._capture_rate = self._sample_rate = 0
        self._resampler: soxr.ResampleStream | None = None
        self._next_adc: float | None = None  # the capture time the next block should start at

    def rate(self, capture_rate: int, sample_rate: int) -> None:
        """Blocks come at `capture_rate` Hz and go into the ring at `sample_rate`."""
        self._capture_rate, self._sample_rate = capture_rate, sample_rate
        self._resampler = None if capture_rate == sample_rate else soxr.ResampleStream(capture_rate, sample_rate, 1, dtype="float32")

    def __call__(self, indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        self.last = time.monotonic()
        adc = float(getattr(when, "inputBufferAdcTime", 0.0) or 0.0)  # 0: the host API gives no times
        if status.input_overflow:
            gap = round((adc - self._next_adc) * self._capture_rate) if adc and self._next_adc else 0
            self.ring.lose(round(max(gap, frames) * self._sample_rate / self._capture_rate))
        self._next_adc = adc + frames / self._capture_rate if adc else None
        block = indata[:, 0]
        self.ring.write(block if self._resampler is None else self._resampler.resample_chunk(block))


class MicSource:
    """Captures mono float32 from PortAudio input device `device` into the ring at `sample_rate`.

    The device is opened at `capture_rate` when given, else at `sample_rate`, else (many USB
    microphones and Windows' WASAPI take only 44.1 or 48 kHz) at the device's own default rate;
    audio captured at another rate is resampled block by block by a streaming soxr resampler,
    which keeps its filter state across blocks (resampling each block alone would click at
    every block edge).

    The callback (`Capture`) runs on PortAudio's audio thread and only copies the block into the
    ring (through the resampler's C code when there is one, microseconds a block): anything
    slower there would make the driver drop audio before we ever see it; what it drops anyway
    is counted as dropped.

    A microphone can vanish mid-stream (unplugged, its sound server stopped). PortAudio then
    ends the stream (its finished callback runs) or, with some drivers, simply stops calling
    back. Either way a watchdog sets `failure` and closes the ring, so the listen loop ends
    instead of waiting for audio that will never come; or, given `on_failure`, calls it with why
    and leaves the ring open (`ReconnectingMic`).
    """

    def __init__(self, ring: Ring, device: int, sample_rate: int, block: int, capture_rate: int | None = None,
                 on_failure: Callable[[str], None] | None = None):
        sd = sounddevice()
        self.ring = ring
        info = sd.query_devices(device)
        self.name = str(info["name"])
        self.failure: str | None = None
        self.lost: str | None = None
        self.closed = False  # stopped, and its stream closed (not left behind with a hung server)
        self._on_failure = on_failure
        self._sd = sd
        self._stopping = threading.Event()
        self._capture = Capture(ring)
        self._started = 0.0
        self._watchdog = threading.Thread(target=self._watch, name="livecmd-mic-watchdog", daemon=True)
        rates = [capture_rate] if capture_rate is not None else list(dict.fromkeys([sample_rate, round(info["default_samplerate"])]))
        errors = []
        for rate in rates:
            try:
                self._stream = sd.InputStream(
                    device=device, channels=1, samplerate=rate, dtype="float32",
                    blocksize=round(block * rate / sample_rate), callback=self._callback, finished_callback=self._finished,
                )
                break
            except sd.PortAudioError as e:
                errors.append(f"{rate} Hz: {e}")
        else:
            raise LivecmdError(
                f"cannot capture mono audio from {self.name!r} ({'; '.join(errors)}); "
                "pick another input with --mic or another --mic-rate, see --list-devices"
            )
        self.capture_rate = rate
        self._capture.rate(rate, sample_rate)

    def _callback(self, indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        if not self._stopping.is_set():  # a stream left behind whose server wakes up again writes nothing more
            self._capture(indata, frames, when, status)

    def _finished(self) -> None:
        """PortAudio ended the stream: our own stop, or the device went away."""
        if not self._stopping.is_set():
            self._fail("its stream ended")

    def _watch(self) -> None:
        tick = time.monotonic()
        while not self._stopping.wait(0.1):
            now = time.monotonic()
            if now - tick > 1.0:  # this process was suspended (Ctrl-Z, a sleeping laptop): no fault of the device
                self._capture.last = now
            tick = now
            if now - self._capture.last > STALL_SECONDS:
                self._fail(f"it sent no audio for {STALL_SECONDS:g} s")
                return

    def _fail(self, why: str) -> None:
        if self._on_failure is not None:
            self._on_failure(why)
            return
        if self.failure is None:
            after = time.monotonic() - self._started
            self.failure = (f"the microphone {self.name!r} stopped after {after:.1f} s ({why}: unplugged, or its "
                            f"sound server stopped); check the input with --list-devices and start listen again "
                            f"(with --reconnect it waits for the microphone to come back)")
        self.ring.close()

    def start(self) -> None:
        self._started = self._capture.last = time.monotonic()
        self._stream.start()
        self._watchdog.start()

    def stop(self) -> None:
        """Stop capturing. A stream whose sound server hangs cannot be closed: PortAudio then
        blocks in stop() for a long time, and in its own clean-up at exit (or crashes there), so
        after `CLOSE_SECONDS` the stream is left behind and the process ends without that
        clean-up, once the summary and the error are out. Stopping twice does nothing more."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        closer = threading.Thread(target=self._close, name="livecmd-mic-close", daemon=True)
        closer.start()
        closer.join(CLOSE_SECONDS)
        if closer.is_alive():
            atexit.register(_leave_now, 2 if self.failure is not None else 0)
        if self._watchdog.is_alive():
            self._watchdog.join()

    def _close(self) -> None:
        try:
            self._stream.stop()
            self._stream.close()
        except self._sd.PortAudioError:  # the device is gone: nothing left to stop
            pass
        self.closed = True


RETRY_SECONDS = 1.0
"""How often a lost microphone is looked for again."""


class ReconnectingMic:
    """The microphone `mic` names (an index or part of a name, as `--mic`; None: the system's
    default input), for listen left on all day: one that goes away (a Bluetooth headset out of
    range, a USB microphone unplugged, its sound server restarted) or is not there yet (a service
    started before the sound server) is waited for. While there is none, `lost` says why and
    nothing reaches the ring; every `RETRY_SECONDS` PortAudio is started afresh (it lists devices
    only when it starts, so a device plugged in since is seen) and the microphone `mic` names
    then is captured: without `mic`, whatever the default input is by then. The time one was away
    is counted as dropped audio, like the blocks a driver discards, and the audio before and after
    it is read as one stream. It never fails: `stop` ends it."""

    def __init__(self, ring: Ring, mic: str | None, sample_rate: int, block: int, capture_rate: int | None = None):
        self.ring = ring
        self.failure: str | None = None
        self.lost: str | None = None
        self._wanted = mic
        self._settings = (sample_rate, block, capture_rate)
        self._gone = threading.Event()
        self._stopping = threading.Event()
        self._keeper = threading.Thread(target=self._keep, name="livecmd-mic-reconnect", daemon=True)
        self._mic: MicSource | None = None
        try:
            device = find_microphone(mic)
        except LivecmdError:  # none there yet: waited for from the start
            self.name = "the default input" if mic is None else f"--mic {mic}"
            self.capture_rate = capture_rate or sample_rate
            self.lost = f"no microphone ({self.name}) yet: waiting for one"
            self._gone.set()
        else:  # one there that refuses the capture is the user's error, as without reconnecting
            self._mic = self._open(device)
            self.name, self.capture_rate = self._mic.name, self._mic.capture_rate

    def _open(self, device: int) -> MicSource:
        return MicSource(self.ring, device, *self._settings, on_failure=self._lose)

    def _lose(self, why: str) -> None:
        """From the microphone's watchdog or PortAudio's thread: it stopped."""
        self.lost = f"microphone {self.name!r} lost ({why}): waiting for it to come back"
        self._gone.set()

    def start(self) -> None:
        if self._mic is not None:
            self._mic.start()
        self._keeper.start()

    def stop(self) -> None:
        self._stopping.set()
        self._gone.set()
        self._keeper.join(CLOSE_SECONDS)  # it may be opening a device whose server hangs: left behind
        if self._mic is not None:
            self._mic.stop()

    def _keep(self) -> None:
        while not self._stopping.is_set():
            self._gone.wait()
            if self._stopping.is_set():
                return
            since = time.monotonic() if self._mic is not None else None  # waiting at the start drops nothing
            if self._mic is not None:
                self._mic.stop()
            while not self._stopping.wait(RETRY_SECONDS):
                mic = self._reopen()
                if mic is not None:
                    self._mic, self.name = mic, mic.name
                    if since is not None:
                        self.ring.lose(round((time.monotonic() - since) * self._settings[0]))
                    self.lost = None
                    break

    def _reopen(self) -> MicSource | None:
        """The microphone `mic` names now, captured and started; None while there is none."""
        sd = sounddevice()
        try:
            if self._mic is None or self._mic.closed:  # no stream left open: PortAudio may start afresh and list devices anew
                sd._terminate()
                sd._initialize()
            mic = self._open(find_microphone(self._wanted))
        except (LivecmdError, sd.PortAudioError):
            return None
        self._gone.clear()  # before it starts: a failure from now on is this microphone's
        try:
            mic.start()
        except sd.PortAudioError:
            mic.stop()
            return None
        return mic


def _leave_now(code: int) -> None:
    """Registered last, so run first at exit: skip PortAudio's clean-up of a hung stream."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


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
        self.failure: str | None = None  # a decoded clip cannot fail part way
        self.lost: str | None = None
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

