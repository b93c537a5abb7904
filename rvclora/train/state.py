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
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from rvclora.errors import BadInputError, IncompatibleError, RvcloraWarning
from rvclora.fileio import atomic_torch_save, safe_torch_load

STATE_FORMAT = 1
_NAME = re.compile(r"^state_e(\d+)_s(\d+)\.pt$")


@dataclass
class RunState:
    """Where a run stands, saved in every checkpoint as ``progress``: the position in the data, the early-stopping
    record, the epoch records so far, and the running totals of the epoch in progress (so that an epoch cut by
    Ctrl-C and resumed still reports all its steps)."""

    epoch: int = 1  # the epoch in progress (1-based)
    batch: int = 0  # batches of that epoch done
    step: int = 0  # optimizer steps done in all
    best_val: float | None = None  # the lowest validation mel loss so far
    bad_epochs: int = 0  # validated epochs since best_val last improved
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per epoch (see epoch_record)
    epoch_sums: dict[str, float] = field(default_factory=dict)  # loss totals of the epoch in progress
    epoch_steps: int = 0
    epoch_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> RunState:
        """From a checkpoint's ``progress`` (a checkpoint older than the epoch totals starts them at zero)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in names})

    @property
    def latest_epoch(self) -> int:
        """The newest epoch any step was done in (0 before the first step): what a checkpoint is named after."""
        return self.epoch - (1 if self.batch == 0 else 0)

    def begin_epoch(self) -> None:
        """At the start of an epoch its totals start from zero; a resumed epoch keeps the ones it has."""
        if self.batch == 0:
            self._clear_epoch_totals()

    def count_step(self, batch: int, losses: Mapping[str, float], seconds: float) -> None:
        """Batch ``batch`` (0-based, within the epoch) was trained in ``seconds`` with these losses."""
        self.step += 1
        self.batch = batch + 1
        self.epoch_steps += 1
        for k, v in losses.items():
            self.epoch_sums[k] = self.epoch_sums.get(k, 0.0) + v
        self.epoch_seconds += seconds

    def epoch_record(self, lr: float) -> dict[str, Any]:
        """The epoch's log record: its steps, time, learning rate and mean losses (validation is added later)."""
        return {
            "event": "epoch",
            "epoch": self.epoch,
            "step": self.step,
            "steps": self.epoch_steps,
            "seconds": round(self.epoch_seconds, 3),
            "lr": lr,
            **{k: v / max(self.epoch_steps, 1) for k, v in self.epoch_sums.items()},
        }

    def judge(self, val_mel: float, patience: int) -> bool:
        """Record a validation loss; whether it is time to stop early: ``patience`` validated epochs in a row
        without a new best (a ``patience`` of 0 never stops)."""
        if self.best_val is None or val_mel < self.best_val:
            self.best_val, self.bad_epochs = val_mel, 0
        else:
            self.bad_epochs += 1
        return bool(patience) and self.bad_epochs >= patience

    def next_epoch(self) -> None:
        """The epoch is complete: move to the first batch of the next one."""
        self.epoch += 1
        self.batch = 0
        self._clear_epoch_totals()

    def _clear_epoch_totals(self) -> None:
        self.epoch_sums, self.epoch_steps, self.epoch_seconds = {}, 0, 0.0


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
