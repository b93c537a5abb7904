"""Issue proof: compress a voice made by real full fine-tuning (`rvclora train --full`), not a simulated one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_train import make_dataset, make_job


@pytest.mark.slow
def test_compress_a_full_fine_tune_error_falls_and_full_rank_is_exact(reference_dir: Path, tmp_path: Path) -> None:
    from rvclora.compress.stage import CompressOptions, compress_model
    from rvclora.lora.adapter import load_lora
    from rvclora.lora.merge import merge_lora
    from rvclora.models.checkpoint import load_synthesizer
    from rvclora.train.loop import run_training

    make_dataset(tmp_path)
    result = run_training(make_job(tmp_path, reference_dir, full=True, epochs=3))
    voice_path = result.output
    assert voice_path is not None and voice_path.suffix == ".pth"
    base_path = reference_dir / "v2_40k_f0_tiny.G.pth"

    reports = [
        compress_model(
            voice_path,
            base_path,
            tmp_path / f"r{r}.safetensors",
            CompressOptions(rank=r, precision="fp32", targets="all"),
        )
        for r in (1, 2, 4, 10_000)
    ]
    errors = np.array([[row["rel_error"] for row in rep["layers"]] for rep in reports])
    assert (errors[0] > 1e-3).any(), "training must have changed the targeted layers"
    assert (np.diff(errors, axis=0) <= 1e-9).all()  # every layer: error never rises with rank
    assert (np.diff(errors.mean(axis=1)) < 0).all()  # on average it strictly falls
    assert errors[-1].max() < 1e-5

    base = load_synthesizer(base_path)
    base.remove_posterior_encoder()
    load_lora(base, tmp_path / "r10000.safetensors")
    restored = _effective(merge_lora(base).state_dict())
    voice = _effective(load_synthesizer(voice_path).state_dict())
    assert restored.keys() == voice.keys()
    for key, value in voice.items():
        torch.testing.assert_close(restored[key], value, atol=1e-5, rtol=0, msg=key)


def _effective(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weight-normed pairs as their effective weight g·v/‖v‖: the (g, v) split itself is not unique."""
    out = {k: v for k, v in sd.items() if not k.endswith(("weight_g", "weight_v"))}
    for key in (k for k in sd if k.endswith("weight_v")):
        stem = key[: -len("_v")]
        out[stem] = torch._weight_norm(sd[key], sd[stem + "_g"], 0)
    return out
