"""Typed settings given for one run, on top of ``rvclora.yaml`` (the CLI's flags, a Python caller's keywords).

Every field is a key of the workspace schema: a top-level field is the key of its name, a field of a section
(``lora``, ``train`` ...) is ``section.name``. None means "not given"; defaults stay in the schema. Only
:meth:`Overrides.settings` spells the dotted keys, for :meth:`Workspace.open`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class AssetOverrides:
    base: Path | None = None
    base_d: Path | None = None
    hubert: Path | None = None
    rmvpe: Path | None = None


@dataclass(frozen=True)
class PreprocessOverrides:
    workers: int | None = None


@dataclass(frozen=True)
class ExtractOverrides:
    batch_size: int | None = None
    build_index: bool | None = None


@dataclass(frozen=True)
class LoRAOverrides:
    rank: int | None = None
    alpha: float | None = None
    targets: str | None = None


@dataclass(frozen=True)
class TrainOverrides:
    epochs: int | None = None
    max_steps: int | None = None  # 0 = no limit: clears a stored value
    batch_size: int | None = None
    lr: float | None = None
    seed: int | None = None
    save_every: int | None = None
    keep: int | None = None
    val_fraction: float | None = None
    early_stopping_patience: int | None = None
    precision: str | None = None
    lora_plus_ratio: float | None = None
    cache: bool | None = None
    full: bool | None = None
    log_every: int | None = None


# keys whose value here means "back to the schema default" rather than a value to store
_CLEARING = {"train.max_steps": 0}


@dataclass(frozen=True)
class Overrides:
    """The settings a run changes; see the module docstring for how fields name schema keys."""

    input: Path | None = None
    sr: str | enum.Enum | None = None
    version: str | enum.Enum | None = None
    f0: bool | None = None
    assets: AssetOverrides = field(default_factory=AssetOverrides)
    f0_method: str | enum.Enum | None = None
    device: str | None = None
    unvoiced_f0: str | enum.Enum | None = None
    preprocess: PreprocessOverrides = field(default_factory=PreprocessOverrides)
    extract: ExtractOverrides = field(default_factory=ExtractOverrides)
    lora: LoRAOverrides = field(default_factory=LoRAOverrides)
    train: TrainOverrides = field(default_factory=TrainOverrides)

    def _given(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if is_dataclass(value):
                out.update({f"{f.name}.{g.name}": getattr(value, g.name) for g in fields(value)})
            else:
                out[f.name] = value
        return {key: value for key, value in out.items() if value is not None}

    def settings(self) -> dict[str, Any]:
        """The given values as :meth:`Workspace.open` takes them: dotted schema keys, plain values."""
        out: dict[str, Any] = {}
        for key, value in self._given().items():
            if _CLEARING.get(key, object()) == value:
                continue
            out[key] = value.value if isinstance(value, enum.Enum) else str(value) if isinstance(value, Path) else value
        return out

    def cleared(self) -> list[str]:
        """Keys set to their clearing value (``--max-steps 0``): rvclora.yaml's value goes back to the default."""
        return [key for key, value in self._given().items() if _CLEARING.get(key, object()) == value]

    def without_inputs(self) -> Overrides:
        """The same run minus the recordings folder and model files (what non-zero DDP ranks must not check)."""
        return replace(self, input=None, assets=AssetOverrides())


def schema_keys() -> list[str]:
    """Every key an :class:`Overrides` can set (a test checks that each is a key of the schema)."""
    keys = []
    for f in fields(Overrides):
        default = Overrides.__dataclass_fields__[f.name].default_factory
        if callable(default):
            keys += [f"{f.name}.{g.name}" for g in fields(default())]
        else:
            keys.append(f.name)
    return keys
