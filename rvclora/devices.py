"""One place that turns a device setting (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``) into a torch device,
and a precision setting (``auto``, ``fp32``, ``fp16``, ``bf16``) into the arithmetic used on that device.

Every stage (extract, train, infer, the encoders) resolves devices and precisions here, so ``auto`` means the
same thing and an unavailable device or precision is the same one-line error everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rvclora.choices import Precision
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


def resolve_precision(requested: Any, device: Any, *, training: bool = False) -> Precision:
    """The arithmetic a stage runs in on ``device`` (a torch device or its name); never ``auto``.

    ``auto`` is fp32 off CUDA. On CUDA it is fp16 for extraction and conversion, as RVC's ``is_half``;
    with ``training`` it is bf16 where the GPU has it (fp32's range: no loss scaling), else fp16. Training
    also refuses half precision off CUDA (CPU autocast is slower than fp32 for these convolution-heavy
    models); extraction and conversion accept it (e.g. bf16 features on a CPU). bf16 is refused on a CUDA GPU
    without it.
    """
    name = Precision.parse("auto" if requested is None else requested)
    device_name = str(device)
    on_cuda = device_name.startswith("cuda")
    if not on_cuda:
        if training and name in (Precision.bf16, Precision.fp16):
            raise ConfigError(
                f"precision {name} needs a CUDA GPU; {device_name} trains in fp32", "use --precision auto"
            )
        return Precision.fp32 if name is Precision.auto else name
    if name is Precision.auto:
        return (Precision.bf16 if _cuda_has_bf16() else Precision.fp16) if training else Precision.fp16
    if name is Precision.bf16 and not _cuda_has_bf16():
        raise ConfigError("this GPU does not support bf16", "use --precision fp16 or auto")
    return name


def _cuda_has_bf16() -> bool:
    import torch

    return bool(torch.cuda.is_bf16_supported())
