"""HuBERT's linear layers on oneDNN with weights packed once (CPU, fp32 inference).

Why: on a CPU, ``F.linear`` hands each weight to the GEMM in its plain layout, and the GEMM repacks it on
every call. A 1.5 s stream window has only ~77 frames, so repacking a 768×3072 weight costs about as much as
multiplying by it. Packed once into oneDNN's blocked layout, the encoder's linear layers ran 1.3–1.5× faster
at input lengths from 27 to 1,500 frames in isolation, and the whole encoder 1.3–1.55× faster on stream windows
(1.15–1.55 s) but about even on 10 s (benchmarks/extract_speed.py, ``hubert packed`` rows).

The operators are PyTorch's own (``torch.ops.mkldnn._linear_pointwise``, what ``torch.compile`` emits for a
frozen fp32 linear on CPU), so nothing is installed or compiled. Same weights, same operations; sums are
ordered differently by the blocked kernel, so features match the plain model to float rounding (~1e-6).
"""

from __future__ import annotations

import torch
from torch import nn

from rvclora.onednn import has_ops

_OPS = ("_linear_pointwise", "_reorder_linear_weight")


def packed_linear_available() -> bool:
    """This torch build has oneDNN and the packed-linear operators (CPU builds of torch ≥ 2.1 with mkldnn)."""
    return has_ops(*_OPS)


class PackedLinear(nn.Module):
    """An inference-only, fp32, CPU ``nn.Linear`` whose weight is packed for oneDNN (no gradients)."""

    packed: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        with torch.no_grad():
            weight = linear.weight.detach().float().contiguous()
            self.register_buffer("packed", torch.ops.mkldnn._reorder_linear_weight(weight))
            bias = None if linear.bias is None else linear.bias.detach().float().contiguous()
            self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)
        y = torch.ops.mkldnn._linear_pointwise(flat, self.packed, self.bias, "none", [], "")
        return y.reshape(*x.shape[:-1], self.out_features)


def pack_linears(net: nn.Module) -> int:
    """Replace every ``nn.Linear`` inside ``net`` (in place) by a :class:`PackedLinear`; returns how many.

    ``net`` must be an fp32 CPU model used for inference only: the packed layers have no parameters.
    """
    swapped = 0
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, PackedLinear(child))
                swapped += 1
    return swapped
