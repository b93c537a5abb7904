"""Safe reading and atomic writing of files.

Two promises live here so no other module has to re-implement them: nothing is ever unpickled beyond
plain containers and tensors (every torch load is ``weights_only=True``), and no output is ever left
half-written (write to a temporary file in the destination folder, then rename).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rvclora.errors import BadInputError, DiskFullError, OutputError, UnsafeFileError


def require_file(path: str | os.PathLike[str], what: str = "file") -> Path:
    """Return ``path`` as a Path, or raise a one-line error if it is not an existing regular file."""
    p = Path(path).expanduser()
    if not p.exists():
        raise BadInputError(f"{what} not found: {p}", "check the path")
    if p.is_dir():
        raise BadInputError(f"{what} is a folder, not a file: {p}", "give the path of the file itself")
    if not os.access(p, os.R_OK):
        raise BadInputError(f"{what} is not readable: {p}", "check its permissions")
    return p


def mount_point(path: str | os.PathLike[str]) -> Path:
    """The mount point holding ``path`` (its nearest existing ancestor), to name the full device."""
    p = Path(path).expanduser().absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    while not os.path.ismount(p) and p != p.parent:
        p = p.parent
    return p


def disk_full_error(dest: str | os.PathLike[str], needed_bytes: int | None = None) -> DiskFullError:
    """The one-line error for ENOSPC while writing ``dest``: which device, which file, how much was needed."""
    need = f" ({max(1, round(needed_bytes / 1e6))} MB needed)" if needed_bytes else ""
    return DiskFullError(
        f"no space left on {mount_point(dest)} while writing {dest}{need}", "free some space and run again"
    )


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on any error it vanishes.

    The temporary file keeps the destination's suffix so writers that choose a format by extension work.
    """
    dest = Path(path).expanduser()
    folder = dest.parent if str(dest.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".tmp{dest.suffix}", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write {dest}: {exc.strerror or exc}", "choose a writable output path") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise disk_full_error(dest) from exc
        raise OutputError(f"cannot write {dest}: {exc.strerror or exc}", "choose a writable output path") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` through :func:`atomic_write`."""
    import torch

    with atomic_write(path) as tmp:
        torch.save(obj, tmp)


def _starts_like_pickle(path: Path) -> bool:
    """Legacy (non-zip) torch files begin with a pickle protocol marker."""
    with open(path, "rb") as fh:
        return fh.read(1) == b"\x80"


def safe_torch_load(
    path: str | os.PathLike[str],
    what: str = "checkpoint",
    safe_globals: Sequence[Any] = (),
    map_location: str = "cpu",
) -> Any:
    """Load a torch file with ``weights_only=True``; errors become one-line user errors.

    ``safe_globals`` lists the only extra classes allowed (e.g. a stand-in for fairseq's Dictionary).
    A file that needs anything else is refused *before* loading, naming what it asked for.
    """
    import pickle

    import torch

    p = require_file(path, what)
    if not zipfile.is_zipfile(p) and not _starts_like_pickle(p):
        raise BadInputError(f"{what} {p.name} is truncated or not a PyTorch file", "give a complete .pth/.pt checkpoint")
    try:
        wanted = torch.serialization.get_unsafe_globals_in_checkpoint(str(p))
    except Exception:  # not a zip checkpoint: legacy format or garbage; torch.load below decides
        wanted = []
    allowed = {f"{g.__module__}.{g.__qualname__}" for g in safe_globals}
    allowed |= {getattr(g, "_rvclora_qualname", "") for g in safe_globals}
    unexpected = [g for g in wanted if g not in allowed]
    if unexpected:
        raise UnsafeFileError(
            f"{what} {p.name} contains Python objects rvclora will not unpickle: {', '.join(unexpected[:4])}",
            "only plain tensor checkpoints are accepted; re-save the file with plain tensors",
        )
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = next((ln.strip() for ln in str(exc).splitlines() if "Unsupported global" in ln), "")
        if not reason:
            raise BadInputError(f"{what} {p.name} is truncated or corrupt", "re-download or re-export it") from exc
        raise UnsafeFileError(
            f"{what} {p.name} cannot be loaded safely ({reason[:160]})",
            "only plain tensor checkpoints are accepted",
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError) as exc:
        raise BadInputError(
            f"{what} {p.name} is truncated or not a PyTorch file ({type(exc).__name__})",
            "re-download or re-export it",
        ) from exc
