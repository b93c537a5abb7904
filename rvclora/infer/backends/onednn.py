"""The decoder tile on oneDNN convolutions with packed weights (``--backend onednn``).

Why it is faster than the torch tiles on a CPU: ``F.conv1d`` on a ``[B, C, T]`` tensor hands oneDNN a plain
layout, so every call reorders the weight (and the activations) into oneDNN's blocked layouts and back, and
an activation after it is one more pass over memory. Here every weight is reordered once per tile shape
(:class:`rvclora.onednn.PackCache`: the last two shapes are kept, since the layout oneDNN picks depends on the
shape); the activations stay channels-last (``[B, C, 1, T]`` stored as ``[B, T, C]``, oneDNN's fast
layout for these shapes) from the first layer to the last; the leaky ReLU after each resblock's first
convolution and the final tanh run inside the convolution (oneDNN post-ops). The decoder's big convolutions
then run near an AVX2 core's fp32 peak (61–70 GFLOP/s measured, 5–48 through ``F.conv1d``).

Same weights (a blend's exact weights included), the same operations in the same order as
:func:`rvclora.infer.fast._decode_tile`; outputs equal the torch tiles to float rounding (sums ordered
differently by the blocked kernels: ~2e-7 at full size). The operators are PyTorch's own (``torch.ops.mkldnn``,
what ``torch.compile``'s weight freezing emits), so nothing else is installed and nothing is compiled.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from rvclora.models.generator import Generator
from rvclora.models.modules import LRELU_SLOPE, ResBlock1, ResBlock2
from rvclora.onednn import PackCache, has_ops

#: the oneDNN operators this backend calls (present in CPU builds of torch ≥ 2.1 with mkldnn)
_OPS = (
    "_convolution_pointwise",
    "_convolution_transpose_pointwise",
    "_reorder_convolution_weight",
    "_reorder_convolution_transpose_weight",
)


def onednn_available() -> bool:
    """This torch build has oneDNN and the fused-convolution operators this backend calls."""
    return has_ops(*_OPS)


def _weight_and_bias(layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The fp32 weight ``layer`` computes with (as a 1×k 2-D weight) and its bias (an adapter's: the base's)."""
    from rvclora.lora.layers import computed_weight

    bias = cast(torch.Tensor | None, layer.bias)
    weight = computed_weight(layer).detach().unsqueeze(2).contiguous()
    return weight, None if bias is None else bias.detach().float().contiguous()


class _Conv:
    """A Conv1d as a 1×k 2-D oneDNN convolution on a packed weight, with an optional fused activation."""

    def __init__(self, layer: nn.Module) -> None:
        conv = cast(nn.Conv1d, layer)
        if conv.groups != 1 or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("only plain zero-padded, ungrouped convolutions are packed")
        self.geometry = ([0, conv.padding[0]], [1, conv.stride[0]], [1, conv.dilation[0]], 1)
        weight, self.bias = _weight_and_bias(layer)
        self.packed = PackCache(lambda size: torch.ops.mkldnn._reorder_convolution_weight(weight, *self.geometry, size))

    def __call__(self, x: torch.Tensor, attr: str = "none", scalars: Iterable[float] = ()) -> torch.Tensor:
        return torch.ops.mkldnn._convolution_pointwise(
            x, self.packed(x.shape), self.bias, *self.geometry, attr, list(scalars), ""
        )


class _ConvTranspose:
    """A ConvTranspose1d as a 1×k 2-D oneDNN transposed convolution on a packed weight."""

    def __init__(self, layer: nn.Module) -> None:
        conv = cast(nn.ConvTranspose1d, layer)
        if conv.groups != 1:
            raise ValueError("only ungrouped transposed convolutions are packed")
        pad, out_pad = [0, conv.padding[0]], [0, conv.output_padding[0]]
        self.geometry = (pad, out_pad, [1, conv.stride[0]], [1, conv.dilation[0]], 1)
        weight, self.bias = _weight_and_bias(layer)
        self.packed = PackCache(
            lambda size: torch.ops.mkldnn._reorder_convolution_transpose_weight(weight, *self.geometry, size)
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._convolution_transpose_pointwise(
            x, self.packed(x.shape), self.bias, *self.geometry, "none", [], ""
        )


#: one resblock's packed convolutions: (first, second) per dilation for ResBlock1, (conv, None) for ResBlock2
_Block = list[tuple[_Conv, _Conv | None]]


class OneDnnTileDecoder:
    """Callable like :func:`rvclora.infer.fast._decode_tile` without the decoder argument (fp32, CPU)."""

    def __init__(self, dec: Generator) -> None:
        self.k = dec.num_kernels
        self.conv_pre = _Conv(dec.conv_pre)
        cond = getattr(dec, "cond", None)
        self.cond = None if cond is None else _Conv(cond)
        self.ups: list[_ConvTranspose] = []
        self.noise_convs: list[_Conv] = []
        self.blocks: list[_Block] = []
        resblocks = list(dec.resblocks)
        for i, up in enumerate(cast(Iterable[nn.ConvTranspose1d], dec.ups)):
            self.ups.append(_ConvTranspose(up))
            if dec.has_source:
                self.noise_convs.append(_Conv(dec.noise_convs[i]))
            for block in resblocks[i * self.k : (i + 1) * self.k]:
                self.blocks.append(_block_convs(block))
        self.conv_post = _Conv(dec.conv_post)

    @classmethod
    def load(cls, dec: Generator) -> OneDnnTileDecoder:
        """Take ``dec``'s current weights; each layer packs them the first time it meets a tile shape."""
        with torch.no_grad():
            return cls(dec)

    def __call__(self, x: torch.Tensor, har: torch.Tensor | None, g: torch.Tensor | None) -> torch.Tensor:
        x = self.conv_pre(x.float().unsqueeze(2).contiguous(memory_format=torch.channels_last))
        if g is not None and self.cond is not None:
            x.add_(self.cond(g.float().unsqueeze(2)))  # [B, C, 1, 1] broadcast over time
        source = None if har is None else har.float().unsqueeze(2)  # one channel: both layouts are the same
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            if source is not None:
                x.add_(self.noise_convs[i](source))
            blocks = self.blocks[i * self.k : (i + 1) * self.k]
            first = F.leaky_relu(x, LRELU_SLOPE)  # every block of the stage starts with it: computed once
            xs = _resblock(blocks[0], x, first)
            for block in blocks[1:]:
                xs.add_(_resblock(block, x, first))
            x = xs.div_(self.k)
        # default slope 0.01 before conv_post, as upstream; tanh fused into the convolution
        audio = self.conv_post(F.leaky_relu(x), "tanh")
        return audio.reshape(audio.shape[0], 1, -1)


def _block_convs(block: nn.Module) -> _Block:
    if isinstance(block, ResBlock1):
        return [(_Conv(c1), _Conv(c2)) for c1, c2 in zip(block.convs1, block.convs2, strict=True)]
    if isinstance(block, ResBlock2):
        return [(_Conv(c), None) for c in block.convs]
    raise ValueError(f"no packed form for {type(block).__name__}")


def _resblock(convs: _Block, x: torch.Tensor, activated: torch.Tensor) -> torch.Tensor:
    """A resblock without a mask, in place on fresh conv outputs; ``activated``: ``leaky_relu(x)``, shared by
    the blocks of a stage. Neither input is modified."""
    for j, (first, second) in enumerate(convs):
        xt = activated if j == 0 else F.leaky_relu(x, LRELU_SLOPE)
        if second is None:  # ResBlock2: lrelu → conv, added to the input
            x = first(xt).add_(x)
        else:  # ResBlock1: lrelu → conv → lrelu (fused) → conv, added to the input
            x = second(first(xt, "leaky_relu", [LRELU_SLOPE])).add_(x)
    return x
