"""RMVPE on packed oneDNN convolutions with batch norm folded in (the CPU fp32 default) against the plain
network, on the reference model with non-trivial batch-norm statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rvclora.errors import ConfigError
from rvclora.features.rmvpe import Rmvpe
from rvclora.features.rmvpe_net import RmvpeNet
from rvclora.features.rmvpe_packed import PackedConv2d, pack_rmvpe, packed_conv_available

needs_onednn = pytest.mark.skipif(not packed_conv_available(), reason="this torch build has no oneDNN convolutions")


def _net(reference_dir: Path, seed: int = 0) -> RmvpeNet:
    """The reference network with batch norms that really scale and shift (a folding bug would show)."""
    state = torch.load(reference_dir / "rmvpe_tiny.pt", weights_only=True)
    rmvpe = Rmvpe.load(reference_dir / "rmvpe_tiny.pt", packed=False)
    gen = torch.Generator().manual_seed(seed)
    for name, value in state.items():
        if name.endswith("running_mean"):
            state[name] = 0.3 * torch.randn(value.shape, generator=gen)
        elif name.endswith("running_var"):
            state[name] = 0.5 + torch.rand(value.shape, generator=gen)
    rmvpe.net.load_state_dict(state)
    return rmvpe.net


def _clips() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (4000, 9000, 4000, 12345)]


@needs_onednn
def test_packed_equals_plain(reference_dir: Path) -> None:
    """Clips of several lengths, one after another (each layer repacks for a new shape and reuses the last):
    every salience equals the plain network's; a batch too."""
    plain = Rmvpe(_net(reference_dir), packed=False)
    packed = Rmvpe(_net(reference_dir))
    assert packed.packed and not plain.packed
    assert any(isinstance(m, PackedConv2d) for m in packed.net.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in packed.net.unet.decoder.modules())
    for wav in _clips():
        want = plain.salience(plain.mel(wav))
        got = packed.salience(packed.mel(wav))
        assert float(want.std()) > 1e-3  # a salience that varies, not a constant
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    np.testing.assert_allclose(packed.f0(_clips()[1], 0.5), plain.f0(_clips()[1], 0.5), rtol=1e-5)
    batch = packed.f0_many(_clips(), threshold=0.5)
    for wav, f0 in zip(_clips(), batch, strict=True):
        np.testing.assert_allclose(f0, plain.f0(wav, 0.5), rtol=1e-5)  # Hz: rounding, relative


@needs_onednn
def test_folding_uses_the_statistics(reference_dir: Path) -> None:
    """A network packed with other batch-norm statistics gives other salience: the fold reads them; loading
    one packed network's state into another makes them equal (the packed weights follow their buffers)."""
    wav = _clips()[0]
    a, b = Rmvpe(_net(reference_dir, seed=0)), Rmvpe(_net(reference_dir, seed=1))
    assert float((a.salience(a.mel(wav)) - b.salience(b.mel(wav))).abs().max()) > 1e-3
    b.net.load_state_dict(a.net.state_dict())  # one packed net's folded weights into another: repacked
    torch.testing.assert_close(b.salience(b.mel(wav)), a.salience(a.mel(wav)), rtol=0, atol=1e-6)


def test_packing_needs_eval_mode_and_cpu_fp32(reference_dir: Path) -> None:
    with pytest.raises(ValueError, match="eval mode"):
        pack_rmvpe(_net(reference_dir).train())
    assert not Rmvpe(_net(reference_dir), dtype="bfloat16").packed
    with pytest.raises(ConfigError, match="packed RMVPE runs on the CPU in fp32"):
        Rmvpe(_net(reference_dir), dtype="bfloat16", packed=True)
