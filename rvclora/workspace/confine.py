"""Keep a workspace's writes inside it: its own folders may not be links to somewhere else.

Stages write into, and delete from, ``clips/``, ``features/``, ``checkpoints/`` ... A shared workspace (a zip,
a clone) can carry symbolic links, and a ``features -> ~`` link would turn extract's clean-up of stray hidden
files into a deletion of the user's dotfiles. So before a command takes the workspace lock, every folder it
owns is resolved and must stay inside the workspace root.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from rvclora.errors import BadInputError


def inside(path: Path, root: Path) -> bool:
    """True when ``path`` (resolved, links followed) is ``root`` or lies below it (``root`` resolved)."""
    real = Path(os.path.realpath(path))
    return real == root or root in real.parents


def require_confined(root: Path, folders: Iterable[Path]) -> None:
    """Raise a one-line error naming the first of ``folders`` that resolves outside ``root``."""
    real_root = Path(os.path.realpath(root))
    for folder in folders:
        if os.path.lexists(folder) and not inside(folder, real_root):
            raise BadInputError(
                f"{folder} leads outside the workspace (to {os.path.realpath(folder)}); refused",
                "rvclora writes and deletes files there: replace the link by a real folder",
            )
