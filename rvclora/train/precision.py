"""Which arithmetic a training step runs in: bf16 where the GPU has it, fp16 with loss scaling on older
CUDA GPUs, fp32 on CPU (CPU autocast is slower than fp32 for these convolution-heavy models)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from rvclora.errors import ConfigError

CHOICES = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Precision:
    name: str  # "fp32" | "bf16" | "fp16"
    device_type: str

    @property
    def dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler:
        """Loss scaling only for fp16 (bf16 has fp32's range); disabled scalers are no-ops."""
        return torch.amp.GradScaler(self.device_type, enabled=self.name == "fp16")


def choose_precision(requested: str, device: torch.device) -> Precision:
    if requested not in CHOICES:
        raise ConfigError(f"unknown training precision {requested!r}", f"use one of {', '.join(CHOICES)}")
    if device.type != "cuda":
        if requested in ("bf16", "fp16"):
            raise ConfigError(
                f"precision {requested} needs a CUDA GPU; {device} trains in fp32", "use --precision auto"
            )
        return Precision("fp32", device.type)
    if requested == "auto":
        requested = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if requested == "bf16" and not torch.cuda.is_bf16_supported():
        raise ConfigError("this GPU has no bf16 support", "use --precision fp16 or auto")
    return Precision(requested, "cuda")
