"""One place that turns a device setting (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``) into a torch device.

Every stage (extract, train, infer, the encoders) resolves devices here, so ``auto`` means the same thing and
an unavailable device is the same one-line error everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rvclora.errors import ConfigError

if TYPE_CHECKING:
    import torch


def resolve_device(setting: Any = "auto", local_rank: int = 0) -> torch.device:
    """``auto``/None → ``cuda:<local_rank>`` when CUDA is available, else CPU; explicit devices are checked."""
    import torch

    if setting is None or str(setting).lower() == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        dev = torch.device(str(setting).lower() if isinstance(setting, str) else setting)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"unknown device {setting!r}", "use auto, cpu, cuda, cuda:N or mps") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {setting} requested but CUDA is not available", "use --device cpu or auto")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {setting} requested but MPS is not available", "use --device cpu or auto")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device(f"cuda:{local_rank}")
    return dev
