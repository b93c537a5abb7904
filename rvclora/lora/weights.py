"""Read and write a layer's *effective* weight, whatever form of weight norm it uses.

RVC layers come in three forms: plain (``.weight``), g/v parameters (``weight_g``/``weight_v``, from our own
synthesizer classes or torch's legacy ``weight_norm`` hook) and torch's ``parametrizations.weight_norm``.
Merging an adapter must change what the layer computes, so it goes through here: writing ``.weight`` of a
g/v layer would be silently overwritten by the next forward.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn
from torch.nn.utils import parametrize


def _legacy_weight_norm_dim(layer: nn.Module) -> int | None:
    """The ``dim`` of a torch legacy ``weight_norm`` hook on ``layer``, if there is one."""
    for hook in layer._forward_pre_hooks.values():
        if type(hook).__name__ == "WeightNorm" and getattr(hook, "name", None) == "weight":
            return cast(int, getattr(hook, "dim", None))
    return None


def weight_norm_parts(layer: nn.Module) -> tuple[nn.Parameter, nn.Parameter, int] | None:
    """``(g, v, dim)`` of a weight-normed layer, or None for a plain one."""
    if parametrize.is_parametrized(layer, "weight"):
        plist: Any = cast(nn.ModuleDict, layer.parametrizations)["weight"]
        if len(plist) == 1 and type(plist[0]).__name__ == "_WeightNorm":
            return plist.original0, plist.original1, plist[0].dim
        return None
    g = layer._parameters.get("weight_g")
    v = layer._parameters.get("weight_v")
    if isinstance(g, nn.Parameter) and isinstance(v, nn.Parameter):
        dim = _legacy_weight_norm_dim(layer)
        return g, v, 0 if dim is None else dim
    return None


def effective_weight(layer: nn.Module) -> torch.Tensor:
    """The weight ``layer`` actually computes with (g·v/‖v‖ for weight-normed layers)."""
    parts = weight_norm_parts(layer)
    if parts is not None:
        g, v, dim = parts
        return torch._weight_norm(v, g, dim)
    if parametrize.is_parametrized(layer, "weight"):
        return cast(torch.Tensor, layer.weight)
    return cast(torch.Tensor, layer._parameters["weight"])


@torch.no_grad()
def set_effective_weight(layer: nn.Module, weight: torch.Tensor) -> None:
    """Make ``layer`` compute with ``weight`` (same layout as its weight), in whichever form it stores it.

    For weight norm, g becomes ±‖W‖ and v keeps its old norm-to-g ratio: W·‖v‖/g. The effective weight is W
    either way, but keeping the ratio means merge followed by unmerge gives back the stored g and v (up to
    rounding), so the base fingerprint survives the round trip.
    """
    parts = weight_norm_parts(layer)
    if parts is not None:
        g, v, dim = parts
        w = weight.to(torch.float32)
        norm = torch.norm_except_dim(w, 2, dim)
        g_old = g.to(torch.float32)
        v_norm_old = torch.norm_except_dim(v.to(torch.float32), 2, dim)
        usable = (g_old != 0) & torch.isfinite(v_norm_old) & (v_norm_old > 0)
        ratio = torch.where(usable, v_norm_old / torch.where(usable, g_old, torch.ones_like(g_old)), 1.0)
        g.copy_((torch.sign(ratio) * norm).to(g.dtype))
        v.copy_((w * ratio).to(v.dtype))
        if _legacy_weight_norm_dim(layer) is not None and "weight" in layer.__dict__:
            layer.weight = torch._weight_norm(v, g, dim)  # the legacy hook's cached copy, until the next forward
        return
    if parametrize.is_parametrized(layer, "weight"):
        current = cast(torch.Tensor, layer.weight)
        layer.weight = weight.to(current.dtype)  # goes through the parametrization's right_inverse
        return
    param = cast(torch.Tensor, layer._parameters["weight"])
    param.copy_(weight.to(param.dtype))
