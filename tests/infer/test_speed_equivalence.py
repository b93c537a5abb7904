"""The fast inference path (rvclora.infer.fast) gives the eager path's output: synthesizer level on every
reference model (with and without an attached adapter, with and without noise), upstream's own fixture audio,
and end to end through Converter(fast=True/False)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_assets import build_adapter, voice_like
from models_helpers import MODELS, reference, zero_noise

from rvclora.infer.chunking import ChunkConfig
from rvclora.infer.converter import Converter
from rvclora.infer.fast import decode, fast_infer, prepare_fast, receptive_radius
from rvclora.infer.options import ConvertOptions
from rvclora.infer.pipeline import synthesize
from rvclora.lora.adapter import load_lora
from rvclora.models.checkpoint import load_synthesizer
from rvclora.models.weightnorm import WeightNormed

ATOL_AUDIO = 1e-4  # the project's audio tolerance (fixtures, merged vs unmerged adapters)


def _eager_and_fast(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    model.eval()
    return model, prepare_fast(copy.deepcopy(model))


def _inputs(arrays: dict[str, torch.Tensor], f0: bool) -> tuple[tuple, dict]:
    a = arrays
    eager_args = (
        (a["in_phone"], a["in_phone_lengths"], a["in_pitch"], a["in_pitchf"], a["in_sid"])
        if f0
        else (a["in_phone"], a["in_phone_lengths"], a["in_sid"])
    )
    fast_kwargs = {"pitch": a["in_pitch"], "nsff0": a["in_pitchf"]} if f0 else {}
    return eager_args, fast_kwargs


def _run_both(
    eager: torch.nn.Module, fast: torch.nn.Module, arrays: dict[str, torch.Tensor], f0: bool, seed: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    eager_args, fast_kwargs = _inputs(arrays, f0)
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        want = eager.infer(*eager_args)[0]
    if seed is not None:
        torch.manual_seed(seed)
    got = fast_infer(fast, arrays["in_phone"], arrays["in_phone_lengths"], arrays["in_sid"], **fast_kwargs)
    return want, got


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_fast_is_bit_identical_without_adapter(reference_dir: Path, name: str) -> None:
    """Folding computes the weight with the kernel the eager forward uses, and the in-place decoder does the
    same operations in the same order: nothing may change, not even the last bit."""
    meta, arrays = reference(reference_dir, name)
    eager, fast = _eager_and_fast(load_synthesizer(reference_dir / f"{name}.pth"))
    assert not any(isinstance(m, WeightNormed) for m in fast.modules())
    assert any(isinstance(m, WeightNormed) for m in eager.modules())  # the reference is left as loaded
    with zero_noise():
        want, got = _run_both(eager, fast, arrays, meta["f0"])
    assert torch.equal(got, want)
    assert float((got - arrays["audio"]).abs().max()) <= ATOL_AUDIO  # and still upstream's audio


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_fast_draws_the_same_noise(reference_dir: Path, name: str) -> None:
    """With real noise (prior sample, NSF phases/noise) one seed gives one output on both paths."""
    meta, arrays = reference(reference_dir, name)
    eager, fast = _eager_and_fast(load_synthesizer(reference_dir / f"{name}.pth"))
    want, got = _run_both(eager, fast, arrays, meta["f0"], seed=7)
    assert torch.equal(got, want)
    with zero_noise():
        silent, _ = _run_both(eager, fast, arrays, meta["f0"])
    assert float((want - silent).abs().max()) > 1e-4  # the noise really was on


@pytest.mark.slow
@pytest.mark.parametrize("name", ["v2_40k_f0_tiny", "v2_32k_nof0_tiny"])
def test_fast_with_unmerged_adapter_matches_eager(reference_dir: Path, tmp_path: Path, name: str) -> None:
    """Weight norm folded under attached (unmerged) LoRA wrappers: the adapter still acts, output unchanged."""
    meta, arrays = reference(reference_dir, name)
    base = reference_dir / f"{name}.pth"
    adapter = build_adapter(tmp_path / "a.safetensors", base, seed=3, targets="all")
    model = load_synthesizer(base)
    load_lora(model, adapter)
    eager, fast = _eager_and_fast(model)
    plain = prepare_fast(load_synthesizer(base).eval())
    with zero_noise():
        want, got = _run_both(eager, fast, arrays, meta["f0"])
        _, without = _run_both(eager, plain, arrays, meta["f0"])
    assert float((got - want).abs().max()) <= 1e-5
    assert float((without - want).abs().max()) > 1e-3  # the adapter changes the output


@pytest.mark.slow
@pytest.mark.parametrize("blend", [False, True], ids=["single", "blend"])
def test_converter_fast_matches_eager(voices: dict[str, Path], blend: bool) -> None:
    lora = [voices["a"], voices["b"]] if blend else voices["a"]
    small = ChunkConfig(x_pad=0.3, x_query=0.3, x_center=0.5, x_max=0.7)  # several pieces and seams
    kwargs = dict(
        lora=lora, base=voices["base"], hubert=voices["hubert"], f0_method="dio", device="cpu", chunking=small
    )
    fast, eager = Converter(**kwargs), Converter(fast=False, **kwargs)
    assert fast.fast and not eager.fast and fast.voices[0].fast and not eager.voices[0].fast
    assert not any(k.endswith("weight_g") for k in fast.voices[0].model.state_dict())
    assert any(k.endswith("weight_g") for k in eager.voices[0].model.state_dict())
    wav = voice_like(2.0, seed=4, pause=True)
    with zero_noise():
        analysis = fast.analyze(wav, 16000)
        assert len(analysis.pieces) > 1
        got, sr, _ = synthesize(analysis, fast.voices[0], ConvertOptions(index_rate=0.0))
        want, sr_eager, _ = synthesize(analysis, eager.voices[0], ConvertOptions(index_rate=0.0))
    assert sr == sr_eager and got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=ATOL_AUDIO)
    assert np.abs(got).max() > 1e-3  # not silence on both sides


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_tiled_decoder_matches_untiled(reference_dir: Path, name: str) -> None:
    """Tiles with a halo of the receptive radius give the untiled audio; a too-small halo would not."""
    meta, arrays = reference(reference_dir, name)
    model = prepare_fast(load_synthesizer(reference_dir / f"{name}.pth").eval())
    dec = model.dec
    frames = 3 * (receptive_radius(dec) + 8)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, model.config.inter_channels, frames, generator=g)
    f0 = (120.0 + 80.0 * torch.rand(1, frames, generator=g)) if dec.has_source else None
    sid = model.emb_g(torch.tensor([0])).unsqueeze(-1)
    with zero_noise(), torch.inference_mode():
        want = dec(z, f0, g=sid)
        tiled = decode(dec, z, f0, sid, tile=8)
        short = decode(dec, z, f0, sid, tile=8, halo=1)
    assert tiled.shape == want.shape
    assert float((tiled - want).abs().max()) <= 1e-5
    assert float((short - want).abs().max()) > 1e-4  # the halo matters: the test can fail
