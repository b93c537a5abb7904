"""Helpers shared by the model tests: zero-noise mode and reference-fixture loading."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch

MODELS = ("v2_40k_f0_tiny", "v1_48k_f0_tiny", "v2_32k_nof0_tiny")


def _zeros(*size: Any, **kwargs: Any) -> torch.Tensor:
    if len(size) == 1 and isinstance(size[0], (list, tuple, torch.Size)):
        size = tuple(size[0])
    keep = {k: v for k, v in kwargs.items() if k in ("dtype", "device")}
    return torch.zeros(*size, **keep)


def _zeros_like(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return torch.zeros_like(x)


@contextlib.contextmanager
def zero_noise() -> Iterator[None]:
    """torch.rand/randn/rand_like/randn_like return zeros, as when the fixtures were made."""
    with mock.patch("torch.rand", _zeros), mock.patch("torch.randn", _zeros), \
            mock.patch("torch.rand_like", _zeros_like), mock.patch("torch.randn_like", _zeros_like):
        yield


def reference(reference_dir: Path, name: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(index.json entry, npz arrays as tensors) of one reference model."""
    meta = json.loads((reference_dir / "index.json").read_text())[name]
    with np.load(reference_dir / f"{name}.npz") as data:
        arrays = {k: torch.from_numpy(data[k]) for k in data.files}
    return meta, arrays
