"""Whether this torch build has the oneDNN (mkldnn) operators the packed CPU kernels call.

The decoder backend (:mod:`rvclora.infer.backends.onednn`), HuBERT's packed linear layers and RMVPE's packed
convolutions all call PyTorch's own ``torch.ops.mkldnn`` operators, present in CPU builds of torch ≥ 2.1 with
oneDNN; other builds fall back to plain PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from rvclora.errors import ConfigError


def has_ops(*names: str) -> bool:
    """oneDNN is available and ``torch.ops.mkldnn`` has every operator in ``names``."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return all(hasattr(torch.ops.mkldnn, name) for name in names)
    except (AttributeError, RuntimeError):
        return False


class PackCache:
    """A weight packed by oneDNN for each of the last ``keep`` input shapes it was used with.

    Why per shape: the blocked layout oneDNN packs a weight into depends on the input's shape, and a weight
    packed for one shape can run several times slower on another (a 256-channel dilated decoder convolution:
    84 ms on a 74-frame tile with a weight packed for 400 frames, 18 ms with one packed for 74). Stream
    windows have one shape; offline tiles two (full tiles and the last, shorter one), hence ``keep=2``.
    """

    def __init__(self, pack: Callable[[list[int]], torch.Tensor], keep: int = 2) -> None:
        self._pack, self.keep = pack, keep
        self._packed: dict[tuple[object, ...], torch.Tensor] = {}

    def __call__(self, shape: Sequence[int], version: object = None) -> torch.Tensor:
        """The weight packed for ``shape`` (``version``: anything that changes when the weight does)."""
        key = (*shape, version)
        packed = self._packed.pop(key, None)
        if packed is None:
            packed = self._pack(list(shape))
        self._packed[key] = packed  # the most recently used last
        while len(self._packed) > self.keep:
            del self._packed[next(iter(self._packed))]
        return packed


def want_packed(requested: bool | None, device: torch.device, dtype: torch.dtype, available: bool, what: str) -> bool:
    """Whether a model runs on packed oneDNN kernels: ``requested`` None = wherever they apply (the CPU, fp32,
    ``available``: this torch has the operators), False = never; True where they do not apply is one error."""
    if requested is False:
        return False
    applies = device.type == "cpu" and dtype == torch.float32 and available
    if requested and not applies:
        raise ConfigError(
            f"packed {what} runs on the CPU in fp32 with a torch that has oneDNN (here: {device}, {dtype})",
            "leave packed to its default",
        )
    return applies
