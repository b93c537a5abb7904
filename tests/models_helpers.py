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


def fast_infer_on(reference_dir: Path, name: str, backend: str) -> tuple[Any, Any, torch.Tensor, torch.Tensor]:
    """Reference model ``name`` through the fast path on the torch tiles and on ``backend``'s, with one seed.

    Returns (folded model, the backend's tile runner, torch audio, backend audio)."""
    from rvclora.infer.backends import tile_runner
    from rvclora.infer.fast import fast_infer, prepare_fast
    from rvclora.models.checkpoint import load_synthesizer

    meta, arrays = reference(reference_dir, name)
    model = prepare_fast(load_synthesizer(reference_dir / f"{name}.pth").eval())
    runner = tile_runner(backend, model.dec)
    kwargs = {"pitch": arrays["in_pitch"], "nsff0": arrays["in_pitchf"]} if meta["f0"] else {}
    args = (arrays["in_phone"], arrays["in_phone_lengths"], arrays["in_sid"])
    outs = []
    for run in (None, runner):
        torch.manual_seed(5)
        outs.append(fast_infer(model, *args, **kwargs, runner=run))
    return model, runner, outs[0], outs[1]
