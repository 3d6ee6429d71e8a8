"""Decode and resample every clip once, into one memory-mapped array that epochs read windows from.

Decoding an mp3 or resampling 44.1 kHz audio costs far more than a training step's share of
data, so it happens once per (files, sample rate): the clips are written end to end as int16
(the sources' own precision; half the disk of float32, about 24 GB for MagnaTagATune at 16 kHz)
with their offsets. Later runs and DataLoader workers map the file and copy only the windows
they use. A file that does not decode is recorded as broken, not retried.

Layout of a cache folder (`~/.cache/livecmd/<name>-<key>/`, the key a hash of the files' paths,
sizes, modification times and the sample rate): `samples.i16` and `index.json` (sources,
offsets, broken files with their reasons). It is built under a temporary name and renamed into
place, so an interrupted build leaves no half cache behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from livecmd import audio
from livecmd.errors import LivecmdError

FORMAT = 1  # bump when the folder layout changes: old caches are then simply not found
_SCALE = 32767.0


def default_dir() -> Path:
    """`$LIVECMD_CACHE`, else `$XDG_CACHE_HOME/livecmd`, else `~/.cache/livecmd`."""
    if os.environ.get("LIVECMD_CACHE"):
        return Path(os.environ["LIVECMD_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "livecmd"


class ClipCache:
    """The decoded clips of one file list. `wave(path)` → float32 samples at the cache's rate.

    The samples are memory-mapped on first use in each process (DataLoader workers included),
    never pickled along with the object.
    """

    def __init__(self, folder: Path):
        meta = json.loads((folder / "index.json").read_text())
        self.folder = folder
        self.offsets = np.asarray(meta["offsets"], dtype=np.int64)
        self.broken: dict[str, str] = meta["broken"]  # source path → why it did not decode
        self._entry = {source: i for i, source in enumerate(meta["sources"])}
        self._samples: np.ndarray | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_samples": None}

    def __contains__(self, path: Path) -> bool:
        return str(path) in self._entry and str(path) not in self.broken

    def wave(self, path: Path) -> np.ndarray:
        """The whole decoded clip, float32 in [-1, 1], shape (samples,)."""
        i = self._entry[str(path)]
        return self._read(self.offsets[i], self.offsets[i + 1])

    def samples(self, path: Path) -> int:
        """The decoded clip's length in samples."""
        i = self._entry[str(path)]
        return int(self.offsets[i + 1] - self.offsets[i])

    def part(self, path: Path, start: int, length: int) -> np.ndarray:
        """`length` samples of the clip from `start` (fewer at its end), read without decoding
        the rest: a window of an hours-long recording costs a window."""
        i = self._entry[str(path)]
        begin = self.offsets[i] + start
        return self._read(begin, min(begin + length, self.offsets[i + 1]))

    def _read(self, start: int, end: int) -> np.ndarray:
        if self._samples is None:
            data = self.folder / "samples.i16"
            size = data.stat().st_size
            self._samples = np.memmap(data, dtype=np.int16, mode="r") if size else np.zeros(0, np.int16)
        return self._samples[start:end].astype(np.float32) / _SCALE


def build(
    paths: Sequence[Path],
    sample_rate: int,
    cache_dir: Path | None = None,
    workers: int = 0,
    name: str = "clips",
    console: Console | None = None,
) -> ClipCache:
    """The cache of `paths` at `sample_rate` Hz, decoding them (in `workers` processes, 0 = in
    this one) only if no cache of exactly these files exists yet."""
    cache_dir = Path(cache_dir) if cache_dir else default_dir()
    sources = [str(p) for p in paths]
    folder = cache_dir / f"{name}-{sample_rate}-{_key(sources, sample_rate)}"
    if (folder / "index.json").is_file():
        return ClipCache(folder)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f".{folder.name}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    except OSError as e:
        raise LivecmdError(f"cannot write the decoded-audio cache in {cache_dir} ({e.strerror}): pass --cache DIR") from None

    console = console or Console(stderr=True)
    if console.is_terminal:  # with the progress bar: where the disk space goes, the first time
        console.print(f"decoding {len(sources):,} files once into {folder} (later runs reuse it; --cache DIR or "
                      "$LIVECMD_CACHE puts it elsewhere)", soft_wrap=True, highlight=False)
    try:
        _write(tmp, sources, sample_rate, workers, console)
    except BaseException as e:  # Ctrl-C or a full disk: leave no half cache behind
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise LivecmdError(f"cannot write the decoded-audio cache in {cache_dir} ({e.strerror}): free space or pass --cache DIR") from None
        raise
    try:
        os.replace(tmp, folder)
    except OSError:  # another process (a second rank, a second node) finished it first
        shutil.rmtree(tmp, ignore_errors=True)
    return ClipCache(folder)


def _write(tmp: Path, sources: list[str], sample_rate: int, workers: int, console: Console) -> None:
    """Decode `sources` in order into tmp/samples.i16, then write tmp/index.json."""
    lengths: list[int] = []
    broken: dict[str, str] = {}
    decode = partial(_decode, sample_rate=sample_rate)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress, open(tmp / "samples.i16", "wb") as out:
        task = progress.add_task(f"decoding {len(sources):,} files at {sample_rate} Hz", total=len(sources))
        if workers > 0:
            pool = ProcessPoolExecutor(max_workers=workers)
            results = pool.map(decode, sources, chunksize=16)
        else:
            pool, results = None, map(decode, sources)
        try:
            for source, (samples, error) in zip(sources, results):
                if samples is None:
                    broken[source] = error
                    lengths.append(0)
                else:
                    out.write(samples.tobytes())
                    lengths.append(len(samples))
                progress.advance(task)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).tolist()
    meta = {"format": FORMAT, "sample_rate": sample_rate, "sources": sources, "offsets": offsets, "broken": broken}
    (tmp / "index.json").write_text(json.dumps(meta))


def _key(sources: list[str], sample_rate: int) -> str:
    """Hash of what the decoded samples depend on: each file's path, size and mtime, the rate."""
    h = hashlib.sha1(f"{FORMAT} {sample_rate}\n".encode())
    for source in sources:
        try:
            st = os.stat(source)
            h.update(f"{source}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{source}\tmissing\n".encode())
    return h.hexdigest()[:16]


def _decode(source: str, sample_rate: int) -> tuple[np.ndarray | None, str]:
    """(int16 samples, "") or (None, why): one file, in a worker process."""
    try:
        wave = audio.load(source, sample_rate)
    except LivecmdError as e:
        return None, str(e)
    except Exception as e:  # a decoder crash on one odd file must not stop the other thousands
        return None, f"cannot decode {source}: {type(e).__name__}: {e}"
    return np.round(np.clip(wave, -1.0, 1.0) * _SCALE).astype(np.int16), ""
