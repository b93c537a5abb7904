"""Import pyworld and webrtcvad (resemblyzer's voice detector) on setuptools >= 81.

Both run ``import pkg_resources`` only to read their own version (pyworld 0.3.5, the latest release; webrtcvad
2.0.10, which resemblyzer pulls in), and setuptools 81 removed ``pkg_resources``, so importing them fails in a
fresh environment. Rather than pin an old setuptools for every user, we give them a minimal stand-in that
answers exactly the one call they make (``get_distribution(name).version``) from :mod:`importlib.metadata`.
The stand-in is installed only when the real module is missing, and removed again afterwards so nothing else
sees it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import types
from typing import Any

from rvclora.errors import RvcloraError


class _Distribution:
    """What these packages read from ``pkg_resources.get_distribution``: the version string."""

    def __init__(self, name: str) -> None:
        self.project_name = name
        self.version = importlib.metadata.version(name)


def _stand_in() -> types.ModuleType:
    module = types.ModuleType("pkg_resources")
    module.__doc__ = "rvclora stand-in: only get_distribution(name).version, for pyworld's and webrtcvad's import."
    module.get_distribution = _Distribution  # type: ignore[attr-defined]
    return module


def _pkg_resources_available() -> bool:
    if sys.modules.get("pkg_resources", False) is None:  # explicitly blocked
        return False
    try:
        importlib.import_module("pkg_resources")
    except Exception:  # missing, or broken by a half-removed setuptools
        return False
    return True


def import_with_stand_in(name: str) -> Any:
    """Import module ``name``, supplying a ``pkg_resources`` stand-in only if the real one is missing."""
    if sys.modules.get(name) is not None:
        return sys.modules[name]
    use_stand_in = not _pkg_resources_available()
    had_entry = "pkg_resources" in sys.modules
    previous = sys.modules.get("pkg_resources")
    if use_stand_in:
        sys.modules["pkg_resources"] = _stand_in()
    try:
        return importlib.import_module(name)
    finally:
        if use_stand_in:  # leave sys.modules as we found it
            if had_entry:
                sys.modules["pkg_resources"] = previous  # type: ignore[assignment]
            else:
                sys.modules.pop("pkg_resources", None)


def import_pyworld() -> Any:
    """Return the ``pyworld`` module (see the module docstring), or one line saying how to get it."""
    try:
        return import_with_stand_in("pyworld")
    except ImportError as exc:
        raise RvcloraError(
            f"the F0 methods 'harvest' and 'dio' need the package 'pyworld', which cannot be imported ({exc})",
            "reinstall rvclora, or: pip install pyworld",
        ) from exc
