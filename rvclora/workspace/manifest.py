"""The workspace manifest (``.rvclora/manifest.json``): what each stage produced, from which inputs and settings.

It is what makes every stage incremental and safe to interrupt: an entry is written (atomically) only after
its outputs exist, and it is fresh only while its inputs are unchanged, the settings it depends on hash the
same and all its outputs are still on disk. Anything else means "redo it".

Stages that record one entry per clip wrap their loop in :meth:`Manifest.batched`, so the file (which grows
with the workspace) is rewritten once per batch of changes instead of once per clip.

A workspace may come from someone else (a zip, a clone), so the file is untrusted input: its schema is checked
on load (a damaged one is set aside as ``manifest.json.bad-<time>`` with a warning, and the work redone), and
every output path it lists must lie, symlinks resolved, inside one of the folders the stages write
(``clips/``, ``features/``, ``f0/``, ``index/``); anything else is refused before a single file is touched,
because stages delete the outputs of stale entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from rvclora.errors import BadInputError, RvcloraWarning
from rvclora.fileio import atomic_write

FORMAT = 1
# Inputs up to this size are fingerprinted by content (robust to copies that change mtime); larger ones by
# size + modification time (cheap for long recordings).
SMALL_FILE = 1 << 20
# The workspace folders whose files stages record as outputs (and so may delete); see rvclora.workspace.core.
OUTPUT_FOLDERS = ("clips", "features", "f0", "index")


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


_NUMBER = (int, float)
# Types of the info values stages read back (a mistyped one would be a TypeError deep inside a stage).
INFO_TYPES: dict[str, tuple[type, ...]] = {
    "speaker_id": (int,),
    "clips": (int,),
    "frames": (int,),
    "dim": (int,),
    "voiced": (int,),
    "duration_s": _NUMBER,
    "kept_s": _NUMBER,
    "f0_min": (*_NUMBER, type(None)),
    "f0_max": (*_NUMBER, type(None)),
    "skipped": (str, type(None)),
}


def _plain_relative(stored: str) -> bool:
    """A relative posix path with no ``..`` (or empty) component."""
    wrapped = f"/{stored}/"
    return not os.path.isabs(stored) and "\\" not in stored and "/../" not in wrapped and "//" not in wrapped


def schema_problem(doc: Any) -> str | None:
    """What is wrong with a parsed manifest (None when it is sound): types checked down to each entry."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("stages"), dict):
        return f'expected {{"format": {FORMAT}, "stages": {{...}}}}'
    for stage, entries in doc["stages"].items():
        if not isinstance(entries, dict):
            return f"stages.{stage} is not an object"
        for key, e in entries.items():
            where = f"stages.{stage}[{key!r}]"
            if not isinstance(e, dict):
                return f"{where} is not an object"
            if not isinstance(e.get("settings_hash"), str):
                return f"{where}.settings_hash is not a string"
            if not isinstance(e.get("inputs"), dict) or not all(isinstance(v, dict) for v in e["inputs"].values()):
                return f"{where}.inputs is not an object of fingerprints"
            outputs = e.get("outputs")
            if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
                return f"{where}.outputs is not a list of paths"
            info = e.get("info", {})
            if not isinstance(info, dict):
                return f"{where}.info is not an object"
            for name, value in info.items():
                if name in INFO_TYPES and (isinstance(value, bool) or not isinstance(value, INFO_TYPES[name])):
                    return f"{where}.info.{name} has the wrong type"
    return None


class Manifest:
    """Per-stage entries keyed by a stage-chosen key (e.g. a source file's relative path).

    Paths are stored relative to the workspace root when inside it, so a workspace can be moved.
    """

    def __init__(self, path: Path, root: Path, output_folders: Sequence[str] = OUTPUT_FOLDERS) -> None:
        self.path = path
        self.root = root
        self._real_root = root.resolve()
        self._output_folders = tuple(output_folders)
        self._data: dict[str, dict[str, dict[str, Any]]] = self._load()
        self._limits: list[tuple[int, float]] = []  # (max_pending, max_seconds) of each open batched block
        self._pending = 0  # changes not yet on disk
        self._oldest_pending = 0.0  # time.monotonic() of the first of them
        # Inside batched blocks: path -> (stat signature, fingerprint), so is_fresh + record hash a file once.
        self._fingerprints: dict[Path, tuple[tuple[int, ...], dict[str, Any]]] = {}

    def _load(self) -> dict[str, dict[str, dict[str, Any]]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInputError(
                f"cannot read {self.path}: {getattr(exc, 'strerror', None) or exc}", "check its permissions"
            ) from exc
        problem: str | None
        try:
            doc = json.loads(text)
        except ValueError:
            doc, problem = None, "it is not valid JSON (truncated?)"
        else:
            problem = schema_problem(doc)
        if problem:
            self._set_aside(problem, doc)
            return {}
        stages: dict[str, dict[str, dict[str, Any]]] = doc["stages"]
        self._check_outputs(stages)
        return stages

    def _set_aside(self, problem: str, doc: Any) -> None:
        """Keep a damaged manifest for inspection (``manifest.json.bad-<time>``) and warn what will be redone."""
        stages = sorted(doc["stages"]) if isinstance(doc, dict) and isinstance(doc.get("stages"), dict) else []
        aside = self.path.with_name(f"{self.path.name}.bad-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(self.path, aside)
            kept = f"set aside as {aside.name}"
        except OSError:
            kept = "left in place"
        redo = f"the {', '.join(stages)} work" if stages else "every stage's work"
        warnings.warn(
            RvcloraWarning(f"{self.path} is damaged ({problem}); {kept}. {redo[0].upper()}{redo[1:]} will be redone"),
            stacklevel=3,
        )

    def _check_outputs(self, stages: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
        """Refuse the manifest if any output lies outside the stages' folders (``../``, absolute, via a link).

        Each distinct folder is resolved once; a file is resolved only when it is itself a link."""
        allowed = [self._real_root / f for f in self._output_folders]
        root = str(self.root)
        folder_ok: dict[str, bool] = {}

        def inside(real: str) -> bool:
            return any(real == str(a) or real.startswith(f"{a}{os.sep}") for a in allowed)

        for stage, entries in stages.items():
            for key, entry in entries.items():
                for stored in entry["outputs"]:
                    parent = stored.rpartition("/")[0]
                    if parent not in folder_ok:
                        folder_ok[parent] = inside(os.path.realpath(os.path.join(root, parent)))
                    ok = folder_ok[parent] and _plain_relative(stored)
                    full = os.path.join(root, stored)
                    if ok and os.path.islink(full):
                        ok = inside(os.path.dirname(os.path.realpath(full)))
                    if not ok:
                        raise BadInputError(
                            f"{self.path}: stages.{stage}[{key!r}].outputs lists {stored!r}, outside the "
                            f"workspace folders stages write ({', '.join(self._output_folders)}); refused",
                            "rvclora never writes that: delete the manifest to redo the work, or restore it",
                        )

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

    def is_fresh(
        self, stage: str, key: str, inputs: Iterable[str | os.PathLike[str]], settings: Mapping[str, Any]
    ) -> bool:
        """True when the entry exists, its inputs and settings are unchanged and all its outputs exist."""
        e = self.entry(stage, key)
        if e is None or e.get("settings_hash") != settings_hash(settings):
            return False
        current = {self.rel(p): self._fingerprint(self.abs(self.rel(p))) for p in inputs}
        if current != e.get("inputs"):
            return False
        return all(self.abs(o).exists() for o in e.get("outputs", []))

    def record(
        self,
        stage: str,
        key: str,
        inputs: Iterable[str | os.PathLike[str]],
        settings: Mapping[str, Any],
        outputs: Iterable[str | os.PathLike[str]],
        info: Mapping[str, Any] | None = None,
    ) -> None:
        """Store an entry and write the manifest (at once, or per :meth:`batched`); call it only after the
        outputs are complete."""
        self._data.setdefault(stage, {})[key] = {
            "inputs": {self.rel(p): self._fingerprint(self.abs(self.rel(p))) for p in inputs},
            "settings_hash": settings_hash(settings),
            "outputs": [self.rel(o) for o in outputs],
            "info": dict(info or {}),
        }
        self._changed()

    def outputs(self, stage: str) -> list[Path]:
        """Absolute paths of every output recorded for a stage."""
        return [self.abs(o) for e in self._data.get(stage, {}).values() for o in e.get("outputs", [])]

    def forget(self, stage: str, key: str, delete_outputs: bool = False) -> None:
        """Drop an entry (optionally deleting its output files) and save (at once, or per :meth:`batched`)."""
        e = self._data.get(stage, {}).pop(key, None)
        if e is not None and delete_outputs:
            for o in e.get("outputs", []):
                self.abs(o).unlink(missing_ok=True)
        self._changed()

    @contextlib.contextmanager
    def batched(self, max_pending: int = 1000, max_seconds: float = 5.0) -> Iterator[Manifest]:
        """Defer writing the file: inside the block, :meth:`record` and :meth:`forget` change it in memory,
        and it is written when ``max_pending`` changes have accumulated or, at the next change, when the
        oldest unwritten one is ``max_seconds`` old; always when the block exits, also on an exception or
        Ctrl-C (what was recorded has its outputs on disk). Blocks nest: the tightest limits apply and every
        exit writes. Each input is also hashed at most once per block while its size, times and inode stay.

        Crash safety is kept: a hard kill (SIGKILL, power loss) loses at most the unwritten entries, and that
        only costs redoing their work, since outputs are written atomically and an output with no entry on
        disk is simply recomputed. It only widens the window that always existed between writing an output
        and writing its entry.
        """
        self._limits.append((max_pending, max_seconds))
        try:
            yield self
        finally:
            self._limits.pop()
            if not self._limits:
                self._fingerprints.clear()
            if self._pending:
                self.save()

    def _changed(self) -> None:
        """Write now, or (inside :meth:`batched`) count the change and write once a limit is reached."""
        if not self._limits:
            self.save()
            return
        now = time.monotonic()
        if not self._pending:
            self._oldest_pending = now
        self._pending += 1
        max_pending = min(p for p, _ in self._limits)
        max_seconds = min(s for _, s in self._limits)
        if self._pending >= max_pending or now - self._oldest_pending >= max_seconds:
            self.save()

    def _fingerprint(self, path: Path) -> dict[str, Any]:
        """:func:`fingerprint`, memoised inside :meth:`batched` while the file's stat is unchanged (an atomic
        replace changes the inode, an in-place write the times). Only a same-size rewrite within one clock
        tick of the hash could slip by, and an edit racing the stage is a race with or without this."""
        if not self._limits:
            return fingerprint(path)
        try:
            st = path.stat()
        except OSError:
            return {"missing": True}
        sig = (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        known = self._fingerprints.get(path)
        if known is None or known[0] != sig:
            known = self._fingerprints[path] = (sig, fingerprint(path))
        return dict(known[1])

    def save(self) -> None:
        """Write the whole manifest atomically. Compact JSON: with ``indent`` json falls back to its pure
        Python encoder, about 4x slower on a large workspace."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.path) as tmp:
            tmp.write_text(
                json.dumps({"format": FORMAT, "stages": self._data}, sort_keys=True, separators=(",", ":")),
                encoding="utf-8",
            )
        self._pending = 0
