"""Safe reading and atomic writing of files.

Two promises live here so no other module has to re-implement them: nothing is ever unpickled beyond
plain containers and tensors (every torch load is ``weights_only=True``), and no output is ever left
half-written (write to a temporary file in the destination folder, then rename).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rvclora.errors import BadInputError, DiskFullError, OutputError, RvcloraError, UnsafeFileError


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


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file: the same inode when both exist (links and hard links included),
    else the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


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


# Below this much free space, a failed write is taken for a full disk even when the writer's error does not
# say so (torch's "unexpected pos", libsndfile's empty messages).
NEARLY_FULL = 1 << 20


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask alone must set it)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/self/status", encoding="ascii") as fh:
            return int(next(ln for ln in fh if ln.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _final_mode(dest: Path) -> int:
    """What a plain ``open(dest, "w")`` would leave: an existing file keeps its mode, a new one gets
    0666 minus the umask (mkstemp creates its file 0600)."""
    try:
        return dest.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _is_disk_full(exc: BaseException, folder: Path) -> bool:
    """Whether a writer's failure means the file system is full: ENOSPC/EDQUOT anywhere in the exception
    chain or its text (safetensors only says "os error 28"), or too little space left to tell otherwise."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(seen) or "os error 28" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    try:
        return shutil.disk_usage(folder).free < NEARLY_FULL
    except OSError:
        return False


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], size_hint: int | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on any error it vanishes.

    The temporary file keeps the destination's suffix so writers that choose a format by extension work.
    The final file gets the mode a plain ``open()`` would give it (the umask is respected). A destination
    that is a symbolic link is refused rather than replaced by a regular file or written through: in a
    workspace from someone else, ``adapters/x.safetensors -> ~/.bashrc`` would otherwise overwrite the
    link's target. A full disk (any writer, however it reports it) becomes one :class:`DiskFullError`
    naming ``size_hint`` bytes as the space needed.
    """
    dest = Path(path).expanduser()
    if dest.is_symlink():
        raise OutputError(
            f"{dest} is a symbolic link (to {os.readlink(dest)}); rvclora does not write through links",
            "remove the link, or give the path of the real file",
        )
    folder = dest.parent if str(dest.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".tmp{dest.suffix}", dir=folder)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise disk_full_error(dest, size_hint) from exc
        raise OutputError(f"cannot write {dest}: {exc.strerror or exc}", "choose a writable output path") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _final_mode(dest))
        os.replace(tmp, dest)
    except RvcloraError:
        tmp.unlink(missing_ok=True)
        raise
    except Exception as exc:
        full = _is_disk_full(exc, folder)  # before the temporary file's space is given back
        tmp.unlink(missing_ok=True)
        if full:
            raise disk_full_error(dest, size_hint) from exc
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {dest}: {exc.strerror or exc}", "choose a writable output path") from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def tensor_bytes(obj: Any) -> int:
    """Bytes of tensor data in nested dicts/lists/tuples (the size a torch file will need, roughly)."""
    import torch

    total, stack = 0, [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            total += item.numel() * item.element_size()
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return total


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` through :func:`atomic_write`, into a Python file object so that a write error keeps its
    errno (torch's own file writer reports a full disk only as "unexpected pos")."""
    import torch

    with atomic_write(path, size_hint=tensor_bytes(obj)) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)


def _pickle_kind(path: Path) -> str | None:
    """``"torch"`` for PyTorch's legacy (pre-1.6, non-zip) format, ``"pickle"`` for any other pickle stream,
    None for neither. The legacy format opens with a protocol-2 pickle of torch's magic number."""
    import torch

    with open(path, "rb") as fh:
        head = fh.read(14)
    if not head.startswith(b"\x80"):
        return None
    magic = int.from_bytes(head[4:14], "little") == torch.serialization.MAGIC_NUMBER
    return "torch" if head[:4] == b"\x80\x02\x8a\x0a" and magic else "pickle"


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
    kind = None if zipfile.is_zipfile(p) else _pickle_kind(p)
    if kind == "pickle":  # torch would try it and warn about the protocol; it is no checkpoint anyway
        raise UnsafeFileError(
            f"{what} {p.name} is a legacy pickle file, refused for safety",
            "rvclora loads PyTorch checkpoints of plain tensors; re-save it with torch.save",
        )
    if not zipfile.is_zipfile(p) and kind is None:
        raise BadInputError(
            f"{what} {p.name} is truncated or not a PyTorch file", "give a complete .pth/.pt checkpoint"
        )
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
