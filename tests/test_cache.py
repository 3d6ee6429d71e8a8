"""The decoded-audio cache as a person at a terminal meets it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from rich.console import Console

from tests.tones import write_clip
from train import cache


def test_the_first_decode_says_where_the_cache_goes_and_later_runs_reuse_it_quietly(tmp_path: Path) -> None:
    clips = [write_clip(tmp_path / f"{i}.wav", np.zeros(16_000, dtype=np.float32)) for i in range(3)]
    first, second = (Console(file=io.StringIO(), force_terminal=True, width=200) for _ in range(2))
    built = cache.build(clips, 16_000, tmp_path / "cache", console=first)
    said = first.file.getvalue()
    assert f"decoding 3 files once into {tmp_path / 'cache'}" in said and "--cache DIR" in said
    assert all(path in built for path in clips)
    cache.build(clips, 16_000, tmp_path / "cache", console=second)
    assert "decoding" not in second.file.getvalue()
