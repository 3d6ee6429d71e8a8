"""Shared test helpers: where the real audio of ../shared/data lives, and how to skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("LIVECMD_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"


def shared_data(relative: str) -> Path:
    """A path under ../shared/data, or skip the test with a reason when it is absent."""
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"real audio {path} is absent (tests read ../shared/data beside the checkout)")
    return path
