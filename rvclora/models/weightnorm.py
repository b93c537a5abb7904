"""Weight-normed convolutions without ``torch.nn.utils.weight_norm`` (deprecated, warns in torch 2.x).

Upstream RVC uses the legacy weight norm, so its files store ``<name>.weight_g`` and ``<name>.weight_v``
(never ``<name>.weight``). These layers keep exactly those two Parameters (g over dim 0, shape
``[dim0, 1, ...]``) and compute the effective weight g·v/‖v‖ on every access with the same kernel the
legacy hook used, so outputs are bit-identical. Contract relied on by the LoRA layer: a weight-normed
layer is an instance of :class:`WeightNormed`, has Parameters ``weight_g``/``weight_v``, norm dim 0,
``layer.weight`` is the effective weight and ``forward`` uses it.
"""

from __future__ import annotations

from typing import Any, TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


class WeightNormed:
    """Mixin for a torch layer whose ``weight`` is re-parametrised as g·v/‖v‖ (norm over all dims but 0)."""

    weight: torch.Tensor  # computed from weight_g and weight_v on access
    weight_g: nn.Parameter
    weight_v: nn.Parameter

    def _init_weight_norm(self) -> None:
        weight = self._parameters.pop("weight")
        data = weight.detach()
        self.weight_g = nn.Parameter(torch.norm_except_dim(data, 2, 0).clone())
        self.weight_v = nn.Parameter(data.clone())

    def __getattr__(self, name: str) -> Any:
        params = self.__dict__.get("_parameters", {})
        if name == "weight" and "weight_v" in params:
            return torch._weight_norm(params["weight_v"], params["weight_g"], 0)
        return super().__getattr__(name)  # type: ignore[misc]

    @torch.no_grad()
    def set_weight(self, weight: torch.Tensor) -> None:
        """Make the effective weight equal ``weight`` (v = weight, g = ‖weight‖); used when merging."""
        v: torch.Tensor = self.weight_v
        g: torch.Tensor = self.weight_g
        w = weight.to(device=v.device, dtype=torch.float32)
        v.copy_(w.to(v.dtype))
        g.copy_(torch.norm_except_dim(w, 2, 0).to(g.dtype))


class WNConv1d(WeightNormed, nn.Conv1d):
    """``nn.Conv1d`` with legacy-compatible weight norm."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_weight_norm()


class WNConvTranspose1d(WeightNormed, nn.ConvTranspose1d):
    """``nn.ConvTranspose1d`` with legacy-compatible weight norm (g is ``[in, 1, 1]``: dim 0 is input)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_weight_norm()


class WNConv2d(WeightNormed, nn.Conv2d):
    """``nn.Conv2d`` with legacy-compatible weight norm (discriminators)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_weight_norm()


def fold_weight_norm(module: M) -> M:
    """Replace every weight-normed layer in ``module`` (in place) by its plain torch layer.

    The effective weight becomes an ordinary ``weight`` Parameter, so inference skips the norm and
    state_dict keys change from ``weight_g``/``weight_v`` to ``weight``. Returns ``module``.
    """
    for layer in list(module.modules()):
        if not isinstance(layer, WeightNormed):
            continue
        weight = layer.weight.detach().clone()
        params = layer._parameters
        bias = params.pop("bias", None)
        del params["weight_g"], params["weight_v"]
        plain = next(c for c in type(layer).__mro__ if c is not WeightNormed and c.__module__.startswith("torch."))
        layer.__class__ = plain
        layer.weight = nn.Parameter(weight)
        layer.register_parameter("bias", bias)  # re-added after weight: plain torch key order
    return module
