"""Helpers shared by the model tests: zero-noise mode and reference-fixture loading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rvclora.models.noise import without_noise

MODELS = ("v2_40k_f0_tiny", "v1_48k_f0_tiny", "v2_32k_nof0_tiny")

#: the zero-noise mode the fixtures were made in: the models' random draws are zeros (this thread only)
zero_noise = without_noise


def reference(reference_dir: Path, name: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(index.json entry, npz arrays as tensors) of one reference model."""
    meta = json.loads((reference_dir / "index.json").read_text())[name]
    with np.load(reference_dir / f"{name}.npz") as data:
        arrays = {k: torch.from_numpy(data[k]) for k in data.files}
    return meta, arrays
