"""Resumable training state: everything needed to continue a run step for step, written atomically.

A LoRA run stores only the trainable tensors (adapter factors + full modules), never the frozen base; the
base is identified by its fingerprint and must match on resume. RNG states (python, numpy, torch CPU and
CUDA, the slice generator) and the data position (epoch, batch within the epoch) make the continuation
identical to an uninterrupted run. Only plain containers and tensors are stored (weights_only loading).
"""

from __future__ import annotations

import os
import random
import re
import warnings
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from rvclora.errors import BadInputError, IncompatibleError, RvcloraWarning
from rvclora.fileio import atomic_torch_save, safe_torch_load

STATE_FORMAT = 1
_NAME = re.compile(r"^state_e(\d+)_s(\d+)\.pt$")


def capture_rng(slice_gen: torch.Generator) -> dict[str, Any]:
    np_state = cast(tuple[Any, ...], np.random.get_state())  # the legacy tuple form
    return {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "slice": slice_gen.get_state(),
    }


def restore_rng(state: dict[str, Any], slice_gen: torch.Generator) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    slice_gen.set_state(state["slice"])


def state_path(folder: Path, epoch: int, step: int) -> Path:
    return folder / f"state_e{epoch:05d}_s{step:08d}.pt"


def list_states(folder: Path) -> list[Path]:
    """Saved states, oldest first (by step)."""
    found = [(int(m.group(2)), p) for p in folder.glob("state_e*_s*.pt") if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save_state(path: Path, state: dict[str, Any], keep: int) -> None:
    """Write atomically, then delete all but the ``keep`` newest states (never the one just written)."""
    atomic_torch_save({"format": STATE_FORMAT, **state}, path)
    for old in list_states(path.parent)[:-keep]:
        if old != path:
            old.unlink(missing_ok=True)


def load_state(path: Path, fingerprint: str, mode: str) -> dict[str, Any]:
    """Load a state and refuse one written for another base model or another training mode."""
    state = safe_torch_load(path, "training checkpoint")
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise IncompatibleError(f"{path.name} is not an rvclora training checkpoint", "start over with --restart")
    if state.get("base_fingerprint") != fingerprint:
        raise IncompatibleError(
            f"training checkpoint {path.name} was made from another base model",
            "use the base it was trained from, or start over with --restart",
        )
    if state.get("mode") != mode:
        raise IncompatibleError(
            f"training checkpoint {path.name} is a {state.get('mode')} run, this is a {mode} run",
            "use the same --full setting, or start over with --restart",
        )
    return state


def newest_intact_state(
    folder: Path, fingerprint: str, mode: str, set_aside: bool = True
) -> tuple[Path | None, dict[str, Any] | None]:
    """The newest state that loads, and its contents; (None, None) when there is none.

    A newer state that is truncated or corrupt (a crash or a full disk while it was copied, not while rvclora
    wrote it: that is atomic) does not block the resume: a warning names it and why, and with ``set_aside``
    it is renamed ``<name>.corrupt`` so pruning can never leave it as the only state. A state for another base
    or mode still stops the run (IncompatibleError): the older ones would be wrong too.
    """
    for path in reversed(list_states(folder)):
        try:
            return path, load_state(path, fingerprint, mode)
        except IncompatibleError:
            raise
        except BadInputError as exc:
            note = f"skipped training checkpoint {path.name}: {exc.message}"
            if set_aside:
                try:
                    os.replace(path, path.with_name(path.name + ".corrupt"))
                    note += f"; set aside as {path.name}.corrupt"
                except OSError:
                    pass
            warnings.warn(RvcloraWarning(note + "; resuming from the one before"), stacklevel=2)
    return None, None
