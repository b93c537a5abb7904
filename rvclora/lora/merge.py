"""Merge adapters into base weights, take them back out, and blend several adapters exactly.

Blending concatenates ranks: Σ wᵢ·sᵢ·BᵢAᵢ = [w₁s₁B₁ … wₙsₙBₙ]·[A₁; …; Aₙ], so a blended adapter (rank Σrᵢ,
scale 1) computes exactly the weighted sum of its parts — no SVD, no approximation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar, cast

import torch
from torch import nn

from rvclora.errors import ConfigError, IncompatibleError
from rvclora.lora.adapter import FULL_PREFIX, Tensors, attach_adapter, full_tensors
from rvclora.lora.config import LoRAConfig
from rvclora.lora.inject import lora_layers, strip_wrappers
from rvclora.lora.layers import rank_dims
from rvclora.lora.meta import AdapterMeta, blend_unvoiced_f0

M = TypeVar("M", bound=nn.Module)


def merge_adapters(model: M) -> M:
    """Bake every attached adapter into its base weight, keeping the wrappers (undo with unmerge_adapters)."""
    for _, layer in lora_layers(model):
        layer.merge()
    return model


def unmerge_adapters(model: M) -> M:
    """Take every merged adapter back out of its base weight."""
    for _, layer in lora_layers(model):
        layer.unmerge()
    return model


def merge_lora(model: M) -> M:
    """Bake all adapters into the base weights and remove the wrappers: a plain model with upstream keys."""
    return strip_wrappers(model, bake=True)


def _common(values: Sequence[object], what: str, force: bool) -> object:
    distinct = {v for v in values if v}
    if len(distinct) > 1 and not force:
        raise IncompatibleError(f"the adapters were made for different {what}", "blend adapters of one base model")
    return next(iter(distinct)) if len(distinct) == 1 else None


def blend_adapters(
    adapters: Sequence[tuple[Tensors, AdapterMeta]],
    weights: Sequence[float],
    base: Mapping[str, torch.Tensor] | None = None,
    force: bool = False,
) -> tuple[Tensors, AdapterMeta]:
    """One adapter computing Σ wᵢ·adapterᵢ exactly (ranks concatenated, scale 1).

    Whole modules (the speaker embedding) blend as base + Σ wᵢ·(Fᵢ − base); without ``base`` that needs
    weights summing to 1 (then it is the weighted average).
    """
    if not adapters or len(adapters) != len(weights):
        raise ConfigError("give one weight per adapter", f"got {len(adapters)} adapters and {len(weights)} weights")
    metas = [m for _, m in adapters]
    fingerprint = _common([m.base_fingerprint for m in metas], "base models", force)
    a_parts: dict[str, list[torch.Tensor]] = {}
    b_parts: dict[str, list[torch.Tensor]] = {}
    kinds: dict[str, str] = {}
    orders: dict[str, str | None] = {}
    for (tensors, meta), weight in zip(adapters, weights, strict=True):
        for key in (k for k in tensors if k.endswith(".lora_A")):
            path = key[: -len(".lora_A")]
            kind = meta.layers.get(path, "")
            order = meta.conv_transpose_order.get(path)
            if kinds.setdefault(path, kind) != kind or orders.setdefault(path, order) != order:
                raise IncompatibleError(f"layer {path} is shaped differently in the adapters", "re-train one of them")
            a_parts.setdefault(path, []).append(tensors[key].to(torch.float32))
            scaled = tensors[f"{path}.lora_B"].to(torch.float32) * (weight * meta.layer_scale(path))
            b_parts.setdefault(path, []).append(scaled)
    out: Tensors = {}
    for path, a_list in a_parts.items():
        a_dim, b_dim = rank_dims(kinds[path], orders[path])
        try:
            out[f"{path}.lora_A"] = torch.cat(a_list, dim=a_dim)
            out[f"{path}.lora_B"] = torch.cat(b_parts[path], dim=b_dim)
        except RuntimeError as exc:
            raise IncompatibleError(f"layer {path} has different shapes in the adapters", "blend one base") from exc
    out.update(_blend_full(adapters, weights, base))
    configs = [m.config for m in metas]
    rank = sum(c.rank for c in configs)
    a_dims = {path: rank_dims(kinds[path], orders[path])[0] for path in a_parts}
    config = LoRAConfig(
        rank=rank,
        alpha=float(rank),
        targets=sorted({p for c in configs for p in c.target_patterns()}),
        full_modules=sorted({p for c in configs for p in c.full_modules}),
    ).with_layer_ranks({path: out[f"{path}.lora_A"].shape[dim] for path, dim in a_dims.items()})
    meta = AdapterMeta(
        config=config,
        scale=1.0,
        layers={p: k for p, k in kinds.items() if k},
        conv_transpose_order={p: o for p, o in orders.items() if o is not None},
        rvc=metas[0].rvc,
        unvoiced_f0=blend_unvoiced_f0(metas, weights),
        base_fingerprint=fingerprint if isinstance(fingerprint, str) else None,
        info={
            "blend": [{"weight": w, "info": m.info, "created": m.created} for m, w in zip(metas, weights, strict=True)]
        },
    )
    return out, meta


def _blend_full(
    adapters: Sequence[tuple[Tensors, AdapterMeta]], weights: Sequence[float], base: Mapping[str, torch.Tensor] | None
) -> Tensors:
    fulls = [full_tensors(t) for t, _ in adapters]
    keys = sorted({k for f in fulls for k in f})
    out: Tensors = {}
    for key in keys:
        if base is not None and key in base:
            ref = base[key].detach().to("cpu", torch.float32)
            value = ref + sum(
                w * (f[key].to(torch.float32) - ref) for f, w in zip(fulls, weights, strict=True) if key in f
            )
        elif all(key in f for f in fulls) and abs(sum(weights) - 1.0) < 1e-6:
            value = cast(torch.Tensor, sum(w * f[key].to(torch.float32) for f, w in zip(fulls, weights, strict=True)))
        else:
            raise ConfigError(
                f"cannot blend the whole-module tensor {key} without the base model",
                "give the base model, or weights that sum to 1",
            )
        out[FULL_PREFIX + key] = value
    return out


def merge_weighted(
    model: M, adapters: Sequence[tuple[Tensors, AdapterMeta]], weights: Sequence[float], force: bool = False
) -> M:
    """Bake Σ wᵢ·adapterᵢ into a plain base model; returns it without wrappers (upstream keys)."""
    tensors, meta = blend_adapters(adapters, weights, base=model.state_dict(), force=force)
    attach_adapter(model, tensors, meta, force=force, name="blended adapter")
    return merge_lora(model)
