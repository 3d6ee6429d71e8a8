"""Ctrl-C in the CLI, made hard to lose, and a stop request for work worth keeping.

Python turns Ctrl-C into a KeyboardInterrupt raised wherever the main thread happens to be. In a
finalizer or a weakref callback (importlib runs one per module lock, thousands while torch
imports) Python prints "Exception ignored" and goes on; in a library's catch-all `except:` it
vanishes without a word. Either way the command ran on as if no key had been pressed (seen in CI:
`listen` played its whole clip). So while `caught()` is on, each press is also recorded, loops
that run until stopped (listen's) check the record, and a press dropped in a finalizer is sent
again. Training is different: its work is worth keeping, so there a first Ctrl-C only asks it to
stop (`StopRequest`) and it saves what it has.

A press that lands while a module imports is held back until the import is over: torch's C++
start-up checks for signals itself (`torch._C._c10d_init`, as torch.distributed imports), and a
KeyboardInterrupt raised there is a C++ exception that nothing catches, so the process aborts
(exit -6; seen in CI, about one Ctrl-C in fifty during listen's start-up).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn

_pressed = threading.Event()


def pressed() -> bool:
    """Whether Ctrl-C was pressed within `caught()`, whether or not its KeyboardInterrupt
    reached anyone."""
    return _pressed.is_set()


@contextmanager
def caught() -> Iterator[None]:
    """Within, Ctrl-C raises KeyboardInterrupt as usual, is recorded, and is sent again if a
    finalizer dropped it. On leaving, the handler and hook from before are back and the record
    is cleared. Signal handlers belong to the main thread: elsewhere this does nothing; nor where
    Ctrl-C is ignored already (a shell's background job), a choice made for us and kept."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield
        return
    handler, hook = signal.signal(signal.SIGINT, _record), sys.unraisablehook
    sys.unraisablehook = _send_dropped_again
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
        sys.unraisablehook = hook
        _pressed.clear()


def end() -> NoReturn:
    """One line, exit code 130 at once. Not sys.exit: a Ctrl-C that landed in code torch runs
    through the C API while it imports makes Python kill itself with SIGINT on the way out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the message short
    print("livecmd: interrupted (Ctrl-C)", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def _record(signum: int, frame: FrameType | None) -> None:
    _pressed.set()
    if _importing(frame):
        _send_again()  # until the import is over
        return
    raise KeyboardInterrupt


def _importing(frame: FrameType | None) -> bool:
    """Whether the main thread is inside an import: importlib's frames are on its stack (they
    are there even when C code, such as torch's, is what imports)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


def _send_again() -> None:
    """SIGINT again in a moment, from a thread (the main thread is where it is handled), unless
    `caught()` has ended meanwhile."""
    def send() -> None:
        if _pressed.is_set():
            os.kill(os.getpid(), signal.SIGINT)

    again = threading.Timer(0.01, send)
    again.daemon = True
    again.start()


def _send_dropped_again(unraisable: sys.UnraisableHookArgs) -> None:
    """sys.unraisablehook: a KeyboardInterrupt that could not be raised is sent again (one
    raised here would be handled here, and dropped again); anything else is reported as Python
    would."""
    if issubclass(unraisable.exc_type, KeyboardInterrupt):
        _pressed.set()
        _send_again()
    else:
        sys.__unraisablehook__(unraisable)


class StopRequest:
    """For work worth keeping when stopped early (training): Ctrl-C (SIGINT) or SIGTERM sets
    `requested`, and the loop stops at its next boundary and keeps what it has; another Ctrl-C
    more than `patience` seconds later stops at once (KeyboardInterrupt). Signals within those
    seconds are the same request: under torchrun a terminal's Ctrl-C reaches each worker twice,
    directly and forwarded by the launcher. An inherited ignore of SIGINT is kept, as in
    `caught()`."""

    patience = 2.0

    def __init__(self) -> None:
        self.requested = False
        self._first = 0.0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            for sig in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.requested:
            self.requested, self._first = True, time.monotonic()
        elif signum == signal.SIGINT and time.monotonic() - self._first > self.patience:
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
