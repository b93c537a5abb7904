"""The workspace manifest (``.rvclora/manifest.json``): what each stage produced, from which inputs and settings.

It is what makes every stage incremental and safe to interrupt: an entry is written (atomically) only after
its outputs exist, and it is fresh only while its inputs are unchanged, the settings it depends on hash the
same and all its outputs are still on disk. Anything else means "redo it".
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rvclora.fileio import atomic_write

FORMAT = 1
# Inputs up to this size are fingerprinted by content (robust to copies that change mtime); larger ones by
# size + modification time (cheap for long recordings).
SMALL_FILE = 1 << 20


def settings_hash(settings: Mapping[str, Any]) -> str:
    """A short stable hash of the settings a stage depends on (only those: unrelated changes keep it fresh)."""
    text = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(path: Path) -> dict[str, Any]:
    """Size + sha1 for small files, size + mtime_ns for large ones; ``{"missing": True}`` if it is gone."""
    try:
        st = path.stat()
    except OSError:
        return {"missing": True}
    if st.st_size <= SMALL_FILE:
        return {"size": st.st_size, "sha1": hashlib.sha1(path.read_bytes()).hexdigest()}
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


class Manifest:
    """Per-stage entries keyed by a stage-chosen key (e.g. a source file's relative path).

    Paths are stored relative to the workspace root when inside it, so a workspace can be moved.
    """

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root
        self._data: dict[str, dict[str, dict[str, Any]]] = self._load()

    def _load(self) -> dict[str, dict[str, dict[str, Any]]]:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            # Written atomically, so this is damage from outside; an empty manifest only costs a redo.
            return {}
        stages = doc.get("stages") if isinstance(doc, dict) else None
        return stages if isinstance(stages, dict) else {}

    def rel(self, path: str | os.PathLike[str]) -> str:
        """How a path is stored: relative to the root (posix style) when inside it, else absolute."""
        p = Path(path)
        p = p if p.is_absolute() else self.root / p
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return str(p)

    def abs(self, stored: str) -> Path:
        p = Path(stored)
        return p if p.is_absolute() else self.root / p

    def entry(self, stage: str, key: str) -> dict[str, Any] | None:
        return self._data.get(stage, {}).get(key)

    def keys(self, stage: str) -> list[str]:
        return sorted(self._data.get(stage, {}))

    def is_fresh(self, stage: str, key: str, inputs: Iterable[str | os.PathLike[str]],
                 settings: Mapping[str, Any]) -> bool:
        """True when the entry exists, its inputs and settings are unchanged and all its outputs exist."""
        e = self.entry(stage, key)
        if e is None or e.get("settings_hash") != settings_hash(settings):
            return False
        current = {self.rel(p): fingerprint(self.abs(self.rel(p))) for p in inputs}
        if current != e.get("inputs"):
            return False
        return all(self.abs(o).exists() for o in e.get("outputs", []))

    def record(self, stage: str, key: str, inputs: Iterable[str | os.PathLike[str]], settings: Mapping[str, Any],
               outputs: Iterable[str | os.PathLike[str]], info: Mapping[str, Any] | None = None) -> None:
        """Store an entry and write the manifest at once (call it only after the outputs are complete)."""
        self._data.setdefault(stage, {})[key] = {
            "inputs": {self.rel(p): fingerprint(self.abs(self.rel(p))) for p in inputs},
            "settings_hash": settings_hash(settings),
            "outputs": [self.rel(o) for o in outputs],
            "info": dict(info or {}),
        }
        self.save()

    def outputs(self, stage: str) -> list[Path]:
        """Absolute paths of every output recorded for a stage."""
        return [self.abs(o) for e in self._data.get(stage, {}).values() for o in e.get("outputs", [])]

    def forget(self, stage: str, key: str, delete_outputs: bool = False) -> None:
        """Drop an entry (optionally deleting its output files) and save."""
        e = self._data.get(stage, {}).pop(key, None)
        if e is not None and delete_outputs:
            for o in e.get("outputs", []):
                self.abs(o).unlink(missing_ok=True)
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.path) as tmp:
            tmp.write_text(json.dumps({"format": FORMAT, "stages": self._data}, indent=1, sort_keys=True),
                           encoding="utf-8")
