"""livecmd: the sample-level CNNs of Lee et al. (2017) on raw 16 kHz audio, and a live recognizer.

Public API: `Recognizer` (audio chunks in, `Detection`s out), `listen` (detections from the
microphone or a clip), `LivecmdError` (what users can get wrong), `livecmd.models.build_model`, `livecmd.weights.load` / `save`,
`livecmd.audio.load`, `livecmd.domains.DOMAINS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from livecmd.errors import LivecmdError

__version__ = "0.1.0"  # the package's version: pyproject.toml reads it from here

if TYPE_CHECKING:
    from livecmd.recognizer import Detection, Recognizer, listen

__all__ = ["Detection", "LivecmdError", "Recognizer", "listen", "__version__"]


def __getattr__(name: str) -> Any:
    """The API's names, imported on first use: `livecmd --help` and the CLI's error paths need
    none of numpy, torch or the model code (PEP 562)."""
    if name in ("Detection", "Recognizer", "listen"):
        from livecmd import recognizer

        return getattr(recognizer, name)
    raise AttributeError(f"module 'livecmd' has no attribute {name!r}")
