"""The onednn decoder backend (rvclora.infer.backends.onednn): the same audio as the torch tiles on every
reference model, with an unmerged adapter blend, with the lighter resblock, on tiles of any length; and the
backend choice (auto picks it on CPU fp32 when onnxruntime is absent, flags force it off)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from models_helpers import MODELS, fast_infer_on

from rvclora.errors import ConfigError
from rvclora.infer import backends
from rvclora.infer.backends import TileRunner
from rvclora.infer.fast import decode
from rvclora.lora.config import LoRAConfig
from rvclora.lora.inject import add_lora, lora_layers
from rvclora.models.checkpoint import load_synthesizer
from rvclora.models.generator import Generator, GeneratorNSF

pytestmark = pytest.mark.skipif(not backends.onednn_available(), reason="this torch build has no oneDNN")

#: packed oneDNN kernels vs torch's convolutions on the same weights: float rounding of differently ordered
#: sums (measured ~2e-7 at full size, ~1e-7 on the tiny models)
ATOL_BACKEND = 1e-5


def _tiles(dec: Generator, runner: TileRunner | None, frames: int = 37, tile: int = 10) -> torch.Tensor:
    """``dec`` decoded in tiles of ``tile`` frames (a shorter last one), with real NSF noise."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, dec.conv_pre.in_channels, frames, generator=g)
    f0 = 120.0 + 80.0 * torch.rand(1, frames, generator=g) if dec.has_source else None
    spk = torch.randn(1, dec.cond.in_channels, 1, generator=g)
    torch.manual_seed(6)
    with torch.inference_mode():
        return decode(dec, x, f0, spk, tile=tile, runner=runner)


@pytest.mark.parametrize("name", [m if m == MODELS[0] else pytest.param(m, marks=pytest.mark.slow) for m in MODELS])
def test_onednn_tiles_match_torch(reference_dir: Path, name: str) -> None:
    """Every reference model (f0/no-f0, 40k/48k/32k), one tile and many: the torch tiles' audio."""
    model, runner, want, got = fast_infer_on(reference_dir, name, "onednn")
    assert got.shape == want.shape and float(want.abs().max()) > 1e-3
    assert float((got - want).abs().max()) <= ATOL_BACKEND
    want, got = _tiles(model.dec, None), _tiles(model.dec, runner)
    assert got.shape == want.shape and float((got - want).abs().max()) <= ATOL_BACKEND


def test_onednn_runs_an_unmerged_blend_and_unfolded_weight_norm(reference_dir: Path) -> None:
    """A blend stays unmerged (LoRA branches beside weight-normed base layers): packed with its exact weights."""
    model = load_synthesizer(reference_dir / "v2_40k_f0_tiny.pth").eval()
    add_lora(model, LoRAConfig(rank=4, alpha=4.0, targets="decoder"))
    layers = [layer for name, layer in lora_layers(model) if name.startswith("dec.")]
    assert layers
    with torch.no_grad():
        for layer in layers:
            layer.lora_B.normal_(0.0, 0.3)  # B starts at zero: make the branch matter
    plain = _tiles(model.dec, backends.tile_runner("onednn", model.dec))
    want = _tiles(model.dec, None)
    with torch.no_grad():
        for layer in layers:
            layer.lora_B.zero_()
    without_branch = _tiles(model.dec, None)
    assert float((want - without_branch).abs().max()) > 1e-3  # the branches change the audio
    assert float((plain - want).abs().max()) <= ATOL_BACKEND


def test_onednn_resblock2_decoder() -> None:
    """The lighter resblock ("2", no RVC config uses it) is packed too."""
    torch.manual_seed(0)
    dec = GeneratorNSF(16, "2", [3, 5], [[1, 3], [1, 3]], [4, 2], 32, [8, 4], gin_channels=8, sr=16000).eval()
    want, got = _tiles(dec, None), _tiles(dec, backends.tile_runner("onednn", dec))
    assert float(want.abs().max()) > 1e-3 and float((got - want).abs().max()) <= ATOL_BACKEND


@pytest.mark.parametrize(
    ("requested", "device", "dtype", "fast", "onnx", "want"),
    [
        ("auto", "cpu", "float32", True, False, "onednn"),  # no onnxruntime: the packed torch tiles
        ("auto", "cpu", "float32", False, False, "torch"),  # --eager: the reference path, no backend
        ("auto", "cpu", "bfloat16", True, False, "torch"),
        ("auto", "cuda", "float32", True, False, "torch"),
        ("torch", "cpu", "float32", True, False, "torch"),  # the force flag: plain PyTorch tiles
        ("onednn", "cpu", "float32", True, True, "onednn"),
    ],
)
def test_resolve_onednn(
    monkeypatch: pytest.MonkeyPatch, requested: str, device: str, dtype: str, fast: bool, onnx: bool, want: str
) -> None:
    monkeypatch.setattr(backends, "onnx_available", lambda: onnx)
    assert backends.resolve_backend(requested, device, dtype, fast) == want


def test_resolve_onednn_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="fp32 only"):
        backends.resolve_backend("onednn", "cuda", "float16", True)
    with pytest.raises(ConfigError, match="fast path"):
        backends.resolve_backend("onednn", "cpu", "float32", False)
    monkeypatch.setattr(backends, "onednn_available", lambda: False)
    monkeypatch.setattr(backends, "onnx_available", lambda: False)
    assert backends.resolve_backend("auto", "cpu", "float32", True) == "torch"  # falls back, no error
    with pytest.raises(ConfigError, match="oneDNN"):
        backends.resolve_backend("onednn", "cpu", "float32", True)


def test_onednn_tiles_of_changing_lengths() -> None:
    """Tile lengths that come and go (more than the two packings each layer keeps): each decode is the torch
    tiles' audio, so a packing is never used for a shape it was not made for."""
    torch.manual_seed(1)
    dec = GeneratorNSF(16, "1", [3, 5], [[1, 3], [1, 3]], [4, 2], 32, [8, 4], gin_channels=8, sr=16000).eval()
    runner = backends.tile_runner("onednn", dec)
    for frames, tile in ((37, 10), (20, 20), (37, 10), (9, 9), (64, 16), (37, 10)):
        want, got = _tiles(dec, None, frames, tile), _tiles(dec, runner, frames, tile)
        assert float(want.abs().max()) > 1e-3 and float((got - want).abs().max()) <= ATOL_BACKEND


def test_pack_cache_keeps_the_last_shapes() -> None:
    from rvclora.onednn import PackCache

    made: list[tuple[int, ...]] = []
    cache = PackCache(lambda size: made.append(tuple(size)) or torch.tensor(float(len(made))), keep=2)
    assert float(cache([1, 4])) == 1.0 and float(cache([1, 4])) == 1.0  # reused
    cache([1, 8])
    cache([1, 4])  # still kept: the two most recent are [1, 8] and [1, 4]
    cache([1, 16])  # evicts [1, 8]
    cache([1, 8])
    assert made == [(1, 4), (1, 8), (1, 16), (1, 8)]
    cache([1, 8], version=2)  # the weight changed: packed again
    assert made[-1] == (1, 8) and len(made) == 5
