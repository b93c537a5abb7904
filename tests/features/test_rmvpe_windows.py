"""RMVPE's BiGRU as overlapping windows in one batch (the GPU default for long inputs) against one sequence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rvclora.features.rmvpe import Rmvpe
from rvclora.features.rmvpe_net import GRU_HIDDEN, N_MELS, RmvpeArch, RmvpeNet, window_starts, windowed_gru


@pytest.mark.parametrize("frames", [97, 160, 161, 333, 1000])
def test_windows_cover_every_frame_once_with_context(frames: int) -> None:
    chunk, margin = 40, 16
    width = chunk + 2 * margin
    if frames < width:
        pytest.skip("shorter inputs run as one sequence")
    starts = window_starts(frames, chunk, margin)
    for c, s in zip(range(0, frames, chunk), starts, strict=True):
        end = min(c + chunk, frames)
        assert 0 <= s and s + width <= frames
        assert c - s >= margin or s == 0  # left context, or the sequence's own start
        assert s + width - end >= margin or s + width == frames  # right context, or the sequence's own end


def test_full_size_bigru_through_windows_equals_one_sequence() -> None:
    """The full-size BiGRU (384 → 2×256, RMVPE's own) on 12 s of frames: windows of 2.4 s with 0.64 s of margin
    give the one-sequence output to float rounding; the result is frame for frame the same length."""
    torch.manual_seed(0)
    gru = torch.nn.GRU(3 * N_MELS, GRU_HIDDEN, batch_first=True, bidirectional=True).eval()
    x = torch.randn(2, 1200, 3 * N_MELS)
    with torch.inference_mode():
        exact = gru(x)[0]
        windowed = windowed_gru(gru, x, chunk=112, margin=64)
    assert windowed.shape == exact.shape
    assert float((windowed - exact).abs().max()) < 1e-5
    with torch.inference_mode():  # too little margin does differ: the bound above is not vacuous
        short = windowed_gru(gru, x, chunk=236, margin=2)
    assert float((short - exact).abs().max()) > 1e-3


def test_rmvpe_salience_with_windows_equals_exact() -> None:
    """End to end with a small U-Net in front (whose outputs make this random GRU remember ~2 s): with 2.56 s of
    margin, the salience of the exact path (the default) to 1e-4."""
    torch.manual_seed(1)
    net = RmvpeNet(RmvpeArch(n_blocks=1, n_gru=1, en_out_channels=4))
    exact = Rmvpe(net)
    assert exact.net.fc[0].windows is None  # exact by default
    windowed = Rmvpe(RmvpeNet(net.arch), gru_windows=(128, 256))
    windowed.net.load_state_dict(exact.net.state_dict())
    t = np.arange(16000 * 12) / 16000
    wav = (0.3 * np.sin(2 * np.pi * (180 + 40 * np.sin(2 * np.pi * 0.5 * t)) * t)).astype(np.float32)
    a, b = exact.salience(exact.mel(wav)), windowed.salience(windowed.mel(wav))
    assert a.shape == b.shape == (1, 1201, 360)
    assert float((a - b).abs().max()) < 2e-4
