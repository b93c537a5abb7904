"""RMVPE's U-Net on oneDNN convolutions with batch norm folded in (CPU, fp32 inference).

Why: on a CPU, ``F.conv2d`` reorders each weight into oneDNN's blocked layout on every call, and for the small
feature maps deep in the U-Net (512 channels on a 2×4 map for a 0.4 s input) it takes PyTorch's slow im2col
path instead: 31 such convolutions cost ~95 ms, about half of a short input's time, whatever its length. Here
each convolution's batch norm is folded into its weight and bias once, the ReLU after it runs inside the
convolution (a oneDNN post-op), and activations stay channels-last.

The packed weight layout oneDNN chooses depends on the input's shape, and a weight packed for one shape runs
up to 5× slower on another. So each layer packs for the shape it meets and keeps the last one
(:class:`rvclora.onednn.PackCache`): a stream's windows, and clips of one length, reuse it; a new shape packs
again (about what ``F.conv2d`` pays per call).

Same weights, same operations; the folded batch norm and the blocked kernels round differently, so salience
matches the plain network to float rounding (~1e-7). 1.25–2× faster on stream windows and 1.26–1.43× on 10 s
(benchmarks/f0_speed.py, ``rmvpe plain`` rows side by side).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from rvclora.features.rmvpe_net import DecoderStage, ResBlock, RmvpeNet
from rvclora.onednn import PackCache, has_ops

_OPS = ("_convolution_pointwise", "_reorder_convolution_weight")


def packed_conv_available() -> bool:
    """This torch build has oneDNN and the fused-convolution operators (CPU builds of torch ≥ 2.1)."""
    return has_ops(*_OPS)


def _fold(
    weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm2d | None, out_dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias with an eval-mode batch norm after the layer folded in (``out_dim``: the weight's
    output-channel axis, 0 for a convolution, 1 for a transposed one)."""
    w = weight.detach().float()
    b = torch.zeros(w.shape[out_dim]) if bias is None else bias.detach().float()
    if bn is not None:
        assert bn.running_mean is not None and bn.running_var is not None
        scale = bn.weight.detach().float() / torch.sqrt(bn.running_var.float() + bn.eps)
        shape = [1] * w.dim()
        shape[out_dim] = -1
        w = w * scale.view(shape)
        b = (b - bn.running_mean.float()) * scale + bn.bias.detach().float()
    return w.contiguous(), b.contiguous()


class PackedConv2d(nn.Module):
    """Conv2d (+ folded BatchNorm2d, + fused ReLU) on a oneDNN weight packed for the last input shape seen
    (packed again when the shape or the folded weight changes)."""

    weight: torch.Tensor
    bias: torch.Tensor

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d | None = None, relu: bool = False) -> None:
        super().__init__()
        if conv.groups != 1 or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("only plain zero-padded, ungrouped convolutions are packed")
        weight, bias = _fold(conv.weight, conv.bias, bn, 0)
        self.register_buffer("weight", weight)  # buffers: a state_dict loaded into a packed net is seen
        self.register_buffer("bias", bias)
        self.geometry = (list(conv.padding), list(conv.stride), list(conv.dilation), 1)
        self.attr = "relu" if relu else "none"
        self._packs = PackCache(
            lambda size: torch.ops.mkldnn._reorder_convolution_weight(self.weight, *self.geometry, size), keep=1
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        packed = self._packs(x.shape, (id(self.weight), self.weight._version))
        return torch.ops.mkldnn._convolution_pointwise(x, packed, self.bias, *self.geometry, self.attr, [], "")


class FoldedConvTranspose2d(nn.Module):
    """ConvTranspose2d + folded BatchNorm2d + ReLU (one per decoder stage: packing would not pay)."""

    weight: torch.Tensor
    bias: torch.Tensor

    def __init__(self, conv: nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        weight, bias = _fold(conv.weight, conv.bias, bn, 1)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        self.stride, self.output_padding = conv.stride, conv.output_padding
        self.padding = cast(tuple[int, int], conv.padding)  # never "same" for a transposed convolution

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv_transpose2d(
            x, self.weight, self.bias, stride=self.stride, padding=self.padding, output_padding=self.output_padding
        )
        return y.relu_()


def _pack_resblock(block: ResBlock) -> None:
    c = block.conv  # conv, bn, relu, conv, bn, relu
    block.conv = nn.Sequential(
        PackedConv2d(cast(nn.Conv2d, c[0]), cast(nn.BatchNorm2d, c[1]), relu=True),
        PackedConv2d(cast(nn.Conv2d, c[3]), cast(nn.BatchNorm2d, c[4]), relu=True),
    )
    if block.shortcut is not None:
        block.shortcut = cast(nn.Conv2d, PackedConv2d(block.shortcut))


def pack_rmvpe(net: RmvpeNet) -> RmvpeNet:
    """Swap ``net``'s convolutions (in place) for packed, batch-norm-folded ones; an fp32 CPU network in
    eval mode, used for inference only (the swapped layers have no parameters)."""
    if net.training:
        raise ValueError("pack an RMVPE network in eval mode (its batch norms are folded)")
    for module in list(net.modules()):
        if isinstance(module, ResBlock):
            _pack_resblock(module)
        elif isinstance(module, DecoderStage):
            up = module.conv1  # transposed conv, bn, relu
            module.conv1 = nn.Sequential(
                FoldedConvTranspose2d(cast(nn.ConvTranspose2d, up[0]), cast(nn.BatchNorm2d, up[1]))
            )
    net.cnn = cast(nn.Conv2d, PackedConv2d(net.cnn))
    return net
