"""The workspace lock (``.rvclora/lock``): one rvclora command at a time per workspace.

Created with O_EXCL so two commands can never both believe they hold it. A lock left by a process that
died on this host is taken over; a lock from another host is respected (we cannot tell if it still runs).
Re-entrant within one process, so a command may call library functions that take the lock too.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rvclora.errors import OutputError, WorkspaceBusyError

_held: dict[Path, int] = {}
# A lock file that is still empty/unparsable this long after creation was left by a crash mid-write.
_PARTIAL_GRACE_S = 10.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def read_holder(path: Path) -> dict[str, Any] | None:
    """The lock's content (pid, host, command, since), or None if absent or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_stale(path: Path, holder: dict[str, Any] | None) -> bool:
    if holder is None:
        try:
            return time.time() - path.stat().st_mtime > _PARTIAL_GRACE_S
        except FileNotFoundError:
            return True
    if holder.get("host") != socket.gethostname():
        return False
    pid = holder.get("pid")
    return not isinstance(pid, int) or pid <= 0 or not _pid_alive(pid)


def _describe(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "another rvclora command (just started)"
    return (
        f"'rvclora {holder.get('command', '?')}' (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
        f"since {holder.get('since', '?')})"
    )


@contextlib.contextmanager
def hold_lock(path: Path, command: str) -> Iterator[None]:
    """Hold the lock at ``path`` for ``command``; raise WorkspaceBusyError naming the holder if taken."""
    path = path.resolve()
    if _held.get(path):
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    _acquire(path, command)
    _held[path] = 1
    try:
        yield
    finally:
        _held.pop(path, None)
        path.unlink(missing_ok=True)


def _acquire(path: Path, command: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command,
        "since": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
    }
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = read_holder(path)
            if _is_stale(path, holder):
                path.unlink(missing_ok=True)  # taken over; a racing taker is stopped by O_EXCL on retry
                continue
            raise WorkspaceBusyError(
                f"workspace {path.parent.parent} is busy: {_describe(holder)} is running",
                f"wait for it to finish, or delete {path} if that process is gone",
            ) from None
        except OSError as exc:
            raise OutputError(
                f"cannot create the workspace lock {path}: {exc.strerror}", "make the workspace folder writable"
            ) from exc
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(info, f)
        return
    raise WorkspaceBusyError(
        f"workspace {path.parent.parent} is busy: {_describe(read_holder(path))}", "try again in a moment"
    )
