"""Voice workspaces: ``rvclora.yaml`` settings, folder layout, stage manifest and lock.

``schema`` holds every setting and default; ``settings`` validates and layers them; ``yamlfile`` reads and
writes the file with line numbers and comments; ``manifest`` and ``lock`` keep stages incremental and
exclusive; ``core`` ties them together in :class:`Workspace`.
"""

from __future__ import annotations

from rvclora.workspace.core import CONFIG_NAME, Workspace
from rvclora.workspace.manifest import Manifest
from rvclora.workspace.schema import KEYS, default

__all__ = ["CONFIG_NAME", "Manifest", "KEYS", "Workspace", "default"]
