"""LoRA on the real synthesizers: the reference fixtures and a full-size v2-40k generator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rvclora.choices import TargetPreset
from rvclora.lora.adapter import load_lora, read_adapter, save_lora
from rvclora.lora.config import LoRAConfig
from rvclora.lora.inject import add_lora, lora_layers
from rvclora.lora.merge import merge_lora
from rvclora.models.checkpoint import load_synthesizer

NAMES = ("v2_40k_f0_tiny", "v1_48k_f0_tiny", "v2_32k_nof0_tiny")
FILES = [f"{n}{s}" for n in NAMES for s in (".pth", ".G.pth")]
LAYER_TYPES = (nn.Linear, nn.Embedding, nn.Conv1d, nn.ConvTranspose1d)


@pytest.fixture
def zero_noise() -> Iterator[None]:
    """The fixtures' zero-noise mode (the synthesizer's random draws are zeros in this thread)."""
    from rvclora.models.noise import without_noise

    with without_noise():
        yield


def infer(model: nn.Module, inputs: dict[str, np.ndarray]) -> torch.Tensor:
    f0 = model.config.f0
    with torch.no_grad():
        out = model.run_infer(
            torch.from_numpy(inputs["in_phone"]).float(),
            torch.from_numpy(inputs["in_phone_lengths"]).long(),
            torch.from_numpy(inputs["in_sid"]).long(),
            pitch=torch.from_numpy(inputs["in_pitch"]).long() if f0 else None,
            nsff0=torch.from_numpy(inputs["in_pitchf"]).float() if f0 else None,
        )
    return out[0]


def nonzero_adapter(model: nn.Module, std: float = 0.1) -> None:
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for _, layer in lora_layers(model):
            layer.lora_A.normal_(0.0, std, generator=gen)  # not torch.randn: zero-noise mode patches it
            layer.lora_B.normal_(0.0, std, generator=gen)


def expected_layers(model: nn.Module) -> list[str]:
    """Every wrappable layer outside enc_q and outside the full modules (emb_g), counted by type."""
    return [
        p
        for p, m in model.named_modules()
        if isinstance(m, LAYER_TYPES) and not p.startswith("enc_q.") and p != "emb_g"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("file", FILES)
def test_attached_equals_merged_on_fixture(reference_dir: Path, file: str, zero_noise: None) -> None:
    model = load_synthesizer(reference_dir / file)
    inputs = dict(np.load(reference_dir / (file.split(".")[0] + ".npz")))
    base_out = infer(model, inputs)
    expected = expected_layers(model)
    wrapped = add_lora(model, LoRAConfig(targets="all"))
    assert sorted(wrapped) == sorted(expected)
    nonzero_adapter(model)
    live = infer(model, inputs)
    scale = base_out.abs().max()
    assert float((live - base_out).abs().max() / scale) > 1e-3  # the adapter changes the voice
    merged = infer(merge_lora(model), inputs)
    assert not list(lora_layers(model))
    assert float((merged - live).abs().max() / live.abs().max()) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("preset", [p.value for p in TargetPreset])
def test_every_preset_wraps_layers_and_merges_exactly(reference_dir: Path, preset: str, zero_noise: None) -> None:
    """A new preset in choices.TargetPreset / lora.config.PRESETS is checked here without further work."""
    file = FILES[0]
    model = load_synthesizer(reference_dir / file)
    inputs = dict(np.load(reference_dir / (file.split(".")[0] + ".npz")))
    base_out = infer(model, inputs)
    candidates = set(expected_layers(model))
    wrapped = add_lora(model, LoRAConfig(targets=preset))
    assert wrapped and set(wrapped) <= candidates
    nonzero_adapter(model)
    live = infer(model, inputs)
    assert float((live - base_out).abs().max() / base_out.abs().max()) > 1e-4  # the adapter changes the output
    merged = infer(merge_lora(model), inputs)
    assert float((merged - live).abs().max() / live.abs().max()) < 1e-4


def test_adapter_moves_between_fp32_training_and_fp16_inference_files(
    reference_dir: Path, tmp_path: Path, zero_noise: None
) -> None:
    name = NAMES[0]
    trained = load_synthesizer(reference_dir / f"{name}.G.pth")
    add_lora(trained, LoRAConfig(targets="voice"))
    nonzero_adapter(trained)
    path = save_lora(trained, tmp_path / "voice.safetensors", dtype=torch.float32)
    inputs = dict(np.load(reference_dir / f"{name}.npz"))
    small = load_synthesizer(reference_dir / f"{name}.pth")  # fp16 file: same fingerprint, no force needed
    meta = load_lora(small, path)
    assert (meta.rvc.version, meta.rvc.sr, meta.rvc.f0) == ("v2", 40000, True)
    assert torch.allclose(infer(small, inputs), infer(trained, inputs), rtol=1e-4, atol=1e-5)


def test_default_preset_full_size_v2_40k_under_one_megabyte(tmp_path: Path) -> None:
    from rvclora.models.config import standard_config
    from rvclora.models.synthesizer import build_synthesizer

    model = build_synthesizer(standard_config("v2", 40000))
    model.remove_posterior_encoder()
    add_lora(model, LoRAConfig())  # default preset, rank 8
    path = save_lora(model, tmp_path / "voice.safetensors")
    assert path.stat().st_size <= 1_000_000
    _, meta = read_adapter(path)
    # hand count (docs/adapter-format.md): LoRA 416,520 at rank 8 + emb_g 109·256
    assert meta.params == 416_520 + 109 * 256
