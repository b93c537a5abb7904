"""computed_weight: the one weight an engine outside PyTorch's modules runs a layer (or its adapter) with."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from rvclora.lora.layers import LoRAConv1d, computed_weight


def test_computed_weight_is_what_the_layer_computes() -> None:
    """Unmerged, merged and plain: convolving with computed_weight gives the layer's output (non-zero factors)."""
    torch.manual_seed(0)
    base = torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv1d(6, 5, 3, padding=1))
    layer = LoRAConv1d(base, rank=2, scale=0.5)
    with torch.no_grad():
        layer.lora_B.normal_(0.0, 0.3)
    x = torch.randn(1, 6, 20)
    assert float((computed_weight(layer) - computed_weight(base)).detach().abs().max()) > 1e-3  # the branch counts
    for _ in ("unmerged", "merged"):
        with torch.no_grad():
            want = layer(x)
            got = F.conv1d(x, computed_weight(layer), layer.base.bias, padding=1)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
        layer.merge()
    torch.testing.assert_close(computed_weight(base), computed_weight(layer), rtol=0, atol=1e-6)
