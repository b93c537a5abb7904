"""What a sweep trains: its options (typed, defaults in one place) and the variants they name.

Every variant gets the same steps, seed and training clips; they differ only in what is trainable:
- ``embedding``: the floor — only the speaker-embedding table moves (a low-rank update of ``emb_g``);
- ``<preset>-r<rank>``: a LoRA adapter, with the workspace's alpha/rank scale kept for every rank;
- ``full``: RVC's own recipe, the whole generator at lr 1e-4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rvclora.errors import ConfigError

FULL_LR = 1e-4  # RVC's fine-tuning learning rate
FLOOR = "embedding"
FULL = "full"


@dataclass(frozen=True)
class SweepOptions:
    """The knobs of one sweep (the CLI and the benchmark build this; defaults live here)."""

    ranks: tuple[int, ...] = (4, 8, 16, 32)
    presets: tuple[str, ...] = ("voice", "decoder")
    full: bool = True  # also train RVC's full fine-tuning (needed for "% of full's gain")
    steps: int = 2000  # optimizer steps of every variant
    holdout: float = 0.1  # share of source recordings held out for scoring
    seed: int | None = None  # None: the workspace's train.seed
    full_lr: float = FULL_LR
    restart: bool = False  # retrain every variant instead of reusing finished ones

    def __post_init__(self) -> None:
        from rvclora.lora.config import PRESETS

        if not self.ranks or any(r < 1 for r in self.ranks):
            raise ConfigError(f"--ranks must be positive integers, got {list(self.ranks)}", "e.g. --ranks 4,8,16")
        unknown = [p for p in self.presets if p not in PRESETS]
        if unknown:
            raise ConfigError(f"unknown preset(s) {', '.join(unknown)}", f"use some of {', '.join(PRESETS)}")
        if not 0.0 < self.holdout < 1.0:
            raise ConfigError(f"--holdout must be between 0 and 1, got {self.holdout}", "e.g. --holdout 0.1")
        if self.steps < 1:
            raise ConfigError(f"--steps must be at least 1, got {self.steps}")


@dataclass(frozen=True)
class Variant:
    """One row of the sweep: how it is trained. ``rank``/``preset`` are None for the floor and full."""

    name: str
    kind: str  # "floor", "lora" or "full"
    rank: int | None
    preset: str | None
    lr: float

    def lora(self, alpha_per_rank: float) -> dict[str, Any]:
        """The LoRA settings of this variant (none for ``full``, which trains every generator weight)."""
        if self.kind == "full":
            return {}
        if self.kind == "floor":
            return {"rank": 1, "alpha": alpha_per_rank, "targets": ["emb_g"], "full_modules": []}
        assert self.rank is not None and self.preset is not None
        return {"rank": self.rank, "alpha": alpha_per_rank * self.rank, "targets": self.preset}


def plan_variants(options: SweepOptions, lr: float) -> list[Variant]:
    """The floor first, then every preset × rank (LoRA at the workspace's ``lr``), then full fine-tuning."""
    rows = [Variant(FLOOR, "floor", None, None, lr)]
    rows += [Variant(f"{p}-r{r}", "lora", r, p, lr) for p in options.presets for r in sorted(set(options.ranks))]
    if options.full:
        rows.append(Variant(FULL, "full", None, None, options.full_lr))
    return rows
