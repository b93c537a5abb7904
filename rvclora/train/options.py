"""Plain inputs of one training run (the CLI builds them from the workspace; tests build them directly)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rvclora.lora.config import LoRAConfig
from rvclora.train.data import Clip


@dataclass
class TrainOptions:
    """The ``train:`` section of rvclora.yaml (defaults live in the workspace schema, not here)."""

    epochs: int
    max_steps: int | None
    batch_size: int
    lr: float
    lr_decay: float
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    c_mel: float
    c_kl: float
    save_every: int
    keep: int
    seed: int
    val_fraction: float
    early_stopping_patience: int
    precision: str
    lora_plus_ratio: float
    cache: bool
    full: bool
    log_every: int
    device: str = "auto"

    @classmethod
    def from_settings(cls, train: dict[str, Any], device: str) -> TrainOptions:
        """From the ``train:`` settings; an unset ``lr`` follows the mode (see :func:`default_lr`)."""
        known = {k: v for k, v in train.items() if k in cls.__dataclass_fields__}
        known["betas"] = tuple(known["betas"])
        if known.get("lr") is None:
            known["lr"] = default_lr(bool(known["full"]))
        return cls(**known, device=device)


def default_lr(full: bool) -> float:
    """RVC's 1e-4 for full fine-tuning; 5e-4 for an adapter (its factors start near zero, few parameters)."""
    from rvclora.workspace.schema import FULL_LR, LORA_LR

    return FULL_LR if full else LORA_LR


@dataclass
class TrainJob:
    """Everything one run reads and writes."""

    name: str  # final adapter / model file name
    base: Path  # pretrained generator (training layout, with enc_q)
    base_d: Path | None  # pretrained discriminator; None = start D from scratch
    clips: list[Clip]
    adapters_dir: Path
    checkpoints_dir: Path
    logs_dir: Path
    lora: LoRAConfig
    options: TrainOptions
    version: str
    sr: int
    f0: bool
    restart: bool = False
    info: dict[str, Any] = field(default_factory=dict)  # provenance stored in the adapter metadata
    unvoiced_f0: str | None = None  # convention of the clips' pitch files, recorded in the adapter
    # Tests/benchmarks only: a narrow fresh D, e.g. {"periods": [2, 3], "channels": 16}.
    discriminator: dict[str, Any] | None = None
