"""Which arithmetic a training step runs in: bf16 where the GPU has it, fp16 with loss scaling on older
CUDA GPUs, fp32 on CPU (CPU autocast is slower than fp32 for these convolution-heavy models)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from rvclora.devices import resolve_precision


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
    """The training arithmetic for the ``train.precision`` setting on ``device`` (resolved by
    :func:`rvclora.devices.resolve_precision`, which every stage shares)."""
    return Precision(resolve_precision(requested, device, training=True).value, device.type)
