"""What autograd keeps for backward, measured on any device: the activation-memory side of a training step.

On a GPU, ``torch.cuda.max_memory_allocated`` answers "how much memory"; on a CPU there is no such counter.
:class:`SavedTensorMeter` counts the bytes of the tensors autograd saves, each storage once while it is alive,
and keeps the peak. Parameters and optimizer state are not included. Benchmarks and tests use it to compare
training steps (LoRA vs full, optimised vs reference) without a GPU.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch


class SavedTensorMeter:
    """``with SavedTensorMeter() as m: ...`` then ``m.peak`` (bytes at most alive at once) and ``m.total``."""

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0
        self.total = 0
        self._refs: Counter[tuple[int, int]] = Counter()
        self._hooks: Any = None

    def __enter__(self) -> SavedTensorMeter:
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, _unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._hooks.__exit__(*exc)

    def _pack(self, t: torch.Tensor) -> _Saved:
        storage = t.untyped_storage()
        key = (storage.data_ptr(), storage.nbytes())
        if self._refs[key] == 0:
            self.live += storage.nbytes()
            self.total += storage.nbytes()
            self.peak = max(self.peak, self.live)
        self._refs[key] += 1
        return _Saved(self, key, t)

    def _release(self, key: tuple[int, int]) -> None:
        self._refs[key] -= 1
        if self._refs[key] == 0:
            del self._refs[key]
            self.live -= key[1]


class _Saved:
    """A saved tensor held for autograd; releasing it (when its graph is freed) updates the meter."""

    def __init__(self, meter: SavedTensorMeter, key: tuple[int, int], tensor: torch.Tensor) -> None:
        self.meter, self.key, self.tensor = meter, key, tensor

    def __del__(self) -> None:
        self.meter._release(self.key)


def _unpack(saved: _Saved) -> torch.Tensor:
    return saved.tensor
