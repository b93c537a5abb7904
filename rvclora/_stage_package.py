"""Stage packages that are also their stage's entry point: ``rvclora.train(request)`` runs
``rvclora.train.workflow.run_train`` while ``rvclora.train.loop`` stays a module of the package.

A function and a package cannot share the name ``rvclora.train``: importing any submodule rebinds the
package on ``rvclora``. So the package itself is made callable; calling it imports the entry point then.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


class StagePackage(types.ModuleType):
    """A package module whose call runs ``_stage_entry`` ("module:function")."""

    _stage_entry: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        module, name = self._stage_entry.split(":")
        return getattr(importlib.import_module(module), name)(*args, **kwargs)


def make_callable(package: str, entry: str) -> None:
    """Let the package named ``package`` be called as ``entry`` ("module:function")."""
    module = sys.modules[package]
    module._stage_entry = entry  # type: ignore[attr-defined]
    module.__class__ = StagePackage
