"""HuBERT with oneDNN-packed linear layers (the CPU fp32 default) against the plain model, and the cached
positional-conv weight."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rvclora.errors import ConfigError
from rvclora.features.hubert import load_content_encoder
from rvclora.features.hubert_packed import PackedLinear, pack_linears, packed_linear_available

needs_onednn = pytest.mark.skipif(not packed_linear_available(), reason="this torch build has no oneDNN linear")


@pytest.fixture(scope="module")
def tiny_pt(reference_dir: Path) -> Path:
    return reference_dir / "hubert_tiny_fairseq.pt"


@pytest.fixture(scope="module")
def wavs() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (16000, 9000, 4321)]


def _linears(net: torch.nn.Module) -> tuple[int, int]:
    mods = list(net.modules())
    return sum(isinstance(m, torch.nn.Linear) for m in mods), sum(isinstance(m, PackedLinear) for m in mods)


@needs_onednn
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_packed_equals_plain(tiny_pt: Path, wavs: list[np.ndarray], version: str) -> None:
    """Every linear layer packed (v1 also reads final_proj); one clip and a padded batch match the plain model."""
    plain = load_content_encoder(tiny_pt, packed=False)
    packed = load_content_encoder(tiny_pt)
    assert packed.packed and not plain.packed
    assert _linears(packed.net) == (0, _linears(plain.net)[0]) and _linears(plain.net)[1] == 0
    for got, want in zip(
        packed.extract_batch(wavs, version, batch_size=3), plain.extract_batch(wavs, version, batch_size=3), strict=True
    ):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * float(np.abs(want).max()))
    single = packed.extract(wavs[1], version)
    np.testing.assert_allclose(single, plain.extract(wavs[1], version), rtol=0, atol=1e-5 * float(np.abs(single).max()))


@needs_onednn
def test_packed_linear_is_the_linear() -> None:
    """Any leading shape; a bias-free layer; a wrong weight would show (non-trivial values, 1e-5 bound)."""
    torch.manual_seed(0)
    for bias in (True, False):
        lin = torch.nn.Linear(48, 80, bias=bias)
        x = torch.randn(2, 7, 48)
        with torch.no_grad():
            np.testing.assert_allclose(PackedLinear(lin)(x).numpy(), lin(x).numpy(), rtol=0, atol=1e-5)
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(4, 2)))
    assert pack_linears(net) == 2 and _linears(net) == (0, 2)


def test_not_packed_where_it_does_not_apply(tiny_pt: Path) -> None:
    """bf16 stays plain; asking for packing there is one clear error."""
    assert not load_content_encoder(tiny_pt, dtype="bf16").packed
    with pytest.raises(ConfigError, match="packed HuBERT runs on the CPU in fp32"):
        load_content_encoder(tiny_pt, dtype="bf16", packed=True)


def test_positional_weight_follows_its_parameters(tiny_pt: Path, wavs: list[np.ndarray]) -> None:
    """The cached g·v/‖v‖ is the computed one, and an in-place edit of g or v is seen on the next call."""
    enc = load_content_encoder(tiny_pt, packed=False)
    conv = enc.net.encoder.pos_conv[0]
    x = torch.randn(1, conv.weight_v.shape[0], 50)
    with torch.inference_mode():
        torch.testing.assert_close(
            conv(x),
            torch.nn.functional.conv1d(x, conv.weight(), conv.bias, padding=conv.padding, groups=conv.groups),
            rtol=0,
            atol=0,
        )
    before = enc.extract(wavs[0])
    with torch.no_grad():
        conv.weight_g.mul_(2.0)
    after = enc.extract(wavs[0])
    assert np.abs(after - before).max() > 1e-3
    with torch.no_grad():
        conv.weight_g.div_(2.0)
    np.testing.assert_allclose(enc.extract(wavs[0]), before, rtol=0, atol=1e-6)


def test_positional_weight_follows_a_move() -> None:
    """After ``.to()`` (another dtype here) the cached weight is computed again, in the new dtype."""
    from rvclora.features.hubert_model import _PosConv

    conv = _PosConv(16, 8, 4)
    x = torch.randn(1, 16, 20)
    with torch.no_grad():
        conv(x)
        conv.double()
        assert conv(x.double()).dtype == torch.float64


def test_positional_weight_trains() -> None:
    """With gradients on, the weight is computed in the graph (the cache is for inference only)."""
    from rvclora.features.hubert_model import _PosConv

    conv = _PosConv(16, 8, 4)
    conv(torch.randn(1, 16, 20)).sum().backward()
    assert conv.weight_g.grad is not None and conv.weight_v.grad is not None
