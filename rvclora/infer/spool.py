"""Signals kept in a temporary file instead of memory, so a conversion's memory does not grow with its length.

A 30-minute input is 115 MB at 16 kHz and its output 290 MB at 40 kHz (float32); holding those, their
features and every intermediate copy made memory grow past 3 GB. A :class:`Spool` appends blocks to a file
and reads any range back, so only the range being worked on is ever in memory.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np

from rvclora.errors import OutputError

T = TypeVar("T")

#: samples per block when a spool is read or written in passes (4 s at 16 kHz)
BLOCK = 1 << 16


class Spool:
    """A 1-D float signal in a file: :meth:`append` at the end, :meth:`write_at` in place, :meth:`read` ranges.

    Tracks its length ``n`` and the peak of everything appended. Close it (or use it as a context manager)
    to delete the file.
    """

    def __init__(self, path: Path, dtype: type = np.float32) -> None:
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.n = 0
        self.peak = 0.0
        self._fh = _guard(self.path, lambda: open(self.path, "w+b"))

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, x: np.ndarray) -> None:
        x = np.ascontiguousarray(x, dtype=self.dtype).reshape(-1)
        if x.size:
            self.peak = max(self.peak, float(np.abs(x).max()))
            self._write(self.n, x)
            self.n += x.size

    def write_at(self, start: int, x: np.ndarray) -> None:
        """Overwrite (or extend) samples from ``start`` on; does not change the tracked peak."""
        x = np.ascontiguousarray(x, dtype=self.dtype).reshape(-1)
        self._write(start, x)
        self.n = max(self.n, start + x.size)

    def read(self, lo: int, hi: int) -> np.ndarray:
        """Samples ``[lo, hi)`` (clipped to what exists) as a fresh array."""
        lo, hi = max(lo, 0), min(hi, self.n)
        if hi <= lo:
            return np.zeros(0, self.dtype)
        size = self.dtype.itemsize
        self._fh.seek(lo * size)
        return np.frombuffer(self._fh.read((hi - lo) * size), dtype=self.dtype).copy()

    def read_reflect(self, lo: int, hi: int) -> np.ndarray:
        """Samples ``[lo, hi)`` where indices outside ``[0, n)`` mirror back in, as ``np.pad(mode="reflect")``."""
        idx = reflect_indices(np.arange(lo, hi), self.n)
        if idx.size == 0:
            return np.zeros(0, self.dtype)
        first, last = int(idx.min()), int(idx.max())
        return self.read(first, last + 1)[idx - first]

    def blocks(self, size: int = BLOCK, reverse: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, samples)`` for consecutive blocks, from the end backwards when ``reverse``."""
        starts = range(0, self.n, size)
        for start in reversed(starts) if reverse else starts:
            yield start, self.read(start, start + size)

    def load(self) -> np.ndarray:
        """The whole signal (only for signals known to be short)."""
        return self.read(0, self.n)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self.path.unlink(missing_ok=True)

    def _write(self, start: int, x: np.ndarray) -> None:
        def write() -> None:
            self._fh.seek(start * self.dtype.itemsize)
            self._fh.write(x.data.cast("B"))
            self._fh.flush()

        _guard(self.path, write, x.nbytes)


def reflect_indices(idx: np.ndarray, n: int) -> np.ndarray:
    """Map indices into ``[0, n)`` by mirroring at both ends without repeating the edge (numpy's "reflect")."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    m = np.mod(idx, period)
    return np.where(m >= n, period - m, m)


def _guard(path: Path, action: Callable[[], T], needed: int | None = None) -> T:
    """Run a file operation on a temporary spool; a full disk becomes the one-line disk-full error."""
    try:
        return action()
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            from rvclora.fileio import disk_full_error

            raise disk_full_error(path, needed) from exc
        raise OutputError(
            f"cannot write temporary file {path}: {exc.strerror or exc}",
            "set TMPDIR to a writable folder with free space",
        ) from exc
