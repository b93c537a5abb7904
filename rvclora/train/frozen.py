"""Frozen convolutions that keep only their weight for backward (LoRA training's memory saving).

Autograd's convolution keeps its input for the weight gradient even when the weight is frozen. In LoRA
training most of the base is frozen, and the input of a frozen convolution is usually a tensor nothing else
keeps (the output of the activation before it), so that memory is pure waste. The same holds for the
discriminator while the generator's loss is back-propagated through it. :func:`lean_frozen_convs` routes
every frozen, zero-padded ``Conv1d``/``Conv2d``/``ConvTranspose1d`` through :class:`_InputGradOnly`, which
keeps the weight alone and computes the input gradient with the same aten kernel autograd uses, so gradients
are bit-identical. The layers' parameters and state_dict are untouched; the context restores their forwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, TypeGuard, cast

import torch
from torch import nn

from rvclora.lora.weights import effective_weight

Conv = nn.Conv1d | nn.Conv2d | nn.ConvTranspose1d
Geometry = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], bool, tuple[int, ...], int]
_CONVS = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d)


def _convolve(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geometry: Geometry
) -> tuple[torch.Tensor, torch.Tensor]:
    """The convolution as autocast would run it (inputs cast to its dtype); returns it and the weight used."""
    device = x.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        x, weight = x.to(dtype), weight.to(dtype)
        bias = None if bias is None else bias.to(dtype)
    with torch.autocast(device, enabled=False):
        return torch.convolution(x, weight, bias, *geometry), weight


class _InputGradOnly(torch.autograd.Function):
    """Convolution with a constant weight: saves the weight (not the input) and returns only d(input)."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geometry: Geometry
    ) -> torch.Tensor:
        out, used = _convolve(x, weight, bias, geometry)
        ctx.save_for_backward(used)
        ctx.geometry, ctx.input_shape, ctx.input_dtype = geometry, x.shape, x.dtype
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None]:
        (weight,) = ctx.saved_tensors
        shape_only = weight.new_empty(1).expand(ctx.input_shape)  # the kernel reads the input's shape alone
        grad_input, _, _ = torch.ops.aten.convolution_backward(
            grad.to(weight.dtype), shape_only, weight, None, *ctx.geometry, [True, False, False]
        )
        return grad_input.to(ctx.input_dtype), None, None, None


def _geometry(conv: Conv) -> Geometry:
    """``torch.convolution``'s arguments after weight and bias: stride, padding, dilation, transposed,
    output_padding, groups."""
    transposed = isinstance(conv, nn.ConvTranspose1d)
    output_padding = tuple(conv.output_padding) if transposed else (0,) * len(conv.stride)
    padding = cast(tuple[int, ...], conv.padding)  # _eligible leaves out string padding
    return (tuple(conv.stride), tuple(padding), tuple(conv.dilation), transposed, output_padding, conv.groups)


def _lean_forward(conv: Conv) -> Any:
    """The patched forward; the effective weight (weight norm applied) is computed once, here, since it is
    frozen: one weight-norm kernel less per layer and forward, with or without autograd."""
    geometry = _geometry(conv)
    layer_class: type[nn.Module] = type(conv)
    with torch.no_grad():
        weight = effective_weight(conv).detach()

    def forward(x: torch.Tensor, *args: Any) -> torch.Tensor:
        if args:  # e.g. ConvTranspose1d's output_size
            return layer_class.forward(conv, x, *args)
        if torch.is_grad_enabled() and x.requires_grad:
            return _InputGradOnly.apply(x, weight, conv.bias, geometry)
        return _convolve(x, weight, conv.bias, geometry)[0]  # nothing to record: the cached weight as it is

    return forward


def _eligible(module: nn.Module) -> TypeGuard[Conv]:
    """A zero-padded Conv1d, Conv2d or ConvTranspose1d whose every parameter is frozen."""
    if not isinstance(module, _CONVS):
        return False
    params = list(module.parameters(recurse=False))
    return (
        bool(params)
        and not any(p.requires_grad for p in params)
        and module.padding_mode == "zeros"
        and not isinstance(module.padding, str)
    )


@contextlib.contextmanager
def lean_frozen_convs(net: nn.Module) -> Iterator[int]:
    """Inside the block, frozen convolutions of ``net`` keep only their weight for backward; yields how many.

    Which layers are frozen, and their weights, are read on entry: freeze first, then enter, and do not
    change those weights inside the block.
    """
    convs = [m for m in net.modules() if _eligible(m)]
    for conv in convs:
        conv.forward = _lean_forward(conv)  # type: ignore[method-assign]
    try:
        yield len(convs)
    finally:
        for conv in convs:
            del conv.forward
