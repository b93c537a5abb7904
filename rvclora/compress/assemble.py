"""Per-layer ranks → adapter tensors and metadata in the format ``load_lora`` and ``rvclora merge`` read.

The factors carry all of ΔW (√σ on each side), so every layer's scale is 1 (alpha = rank). Layers have their own
ranks: the config's ``rank`` is the largest and ``rank_pattern`` lists the layers below it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, TypeVar

import torch
from torch import nn

from rvclora.compress.factor import CONV_T, Layout, Spectrum
from rvclora.lora.adapter import FULL_PREFIX, Tensors, attach_adapter
from rvclora.lora.config import LoRAConfig
from rvclora.lora.merge import merge_lora
from rvclora.lora.meta import AdapterMeta, RvcIdentity

M = TypeVar("M", bound=nn.Module)

FP16_MAX = 65504.0


def layer_factors(path: str, layout: Layout, spectrum: Spectrum, rank: int) -> Tensors:
    """``<path>.lora_A``/``lora_B`` of the rank-``rank`` truncation."""
    a, b = layout.to_factors(*spectrum.factors(rank))
    return {f"{path}.lora_A": a.contiguous(), f"{path}.lora_B": b.contiguous()}


def full_entries(full: Mapping[str, torch.Tensor]) -> Tensors:
    return {FULL_PREFIX + k: v for k, v in full.items()}


def as_stored(tensors: Tensors, dtype: torch.dtype) -> Tensors:
    """The tensors as they will read back from a file of ``dtype`` (fp32 again, for computing with)."""
    return {k: v.to(dtype).to(torch.float32) for k, v in tensors.items()}


def storage_dtype(tensors: Tensors, precision: str) -> tuple[torch.dtype, str | None]:
    """fp16 unless asked otherwise, or unless a value would overflow it (values are never clamped)."""
    if precision == "fp32":
        return torch.float32, None
    peak = max((float(v.abs().max()) for v in tensors.values() if v.numel()), default=0.0)
    if peak >= FP16_MAX:
        return torch.float32, f"a value ({peak:.3g}) exceeds fp16's range, so the adapter is stored in fp32"
    return torch.float16, None


def adapter_metadata(
    base: nn.Module,
    fingerprint: str,
    targets: str | list[str],
    layouts: Mapping[str, Layout],
    ranks: Mapping[str, int],
    full_keys: list[str],
    info: dict[str, Any],
) -> AdapterMeta:
    """Self-describing metadata: per-layer ranks in the config (scale 1 everywhere), kinds, orders, provenance."""
    kept = {p: r for p, r in ranks.items() if r > 0}
    # Whole tensors are listed by module so a load → save_lora round trip keeps them.
    full_modules = sorted({k.rpartition(".")[0] for k in full_keys})
    return AdapterMeta(
        config=layer_ranks_config(kept, targets=targets, full_modules=full_modules),
        scale=1.0,
        layers={p: layouts[p].kind for p in kept},
        conv_transpose_order={p: o for p in kept if layouts[p].kind == CONV_T and (o := layouts[p].order) is not None},
        rvc=RvcIdentity.of(base),
        base_fingerprint=fingerprint,
        info=info,
    )


def layer_ranks_config(ranks: Mapping[str, int], **fields: Any) -> LoRAConfig:
    """A scale-1 config for factors of the given per-layer ranks: ``rank`` is the largest (so ``inspect`` shows
    it), ``rank_pattern`` holds the layers below it."""
    rank = max(ranks.values(), default=1)
    return LoRAConfig(rank=rank, alpha=float(rank), rslora=False, **fields).with_layer_ranks(ranks)


def with_adapter(base: M, tensors: Tensors, meta: AdapterMeta) -> M:
    """A copy of ``base`` with the adapter attached as ``load_lora`` attaches the file, then baked in as
    ``rvclora merge`` does (the merged model renders twice as fast as the attached one)."""
    model = copy.deepcopy(base)
    attach_adapter(model, tensors, meta, name="compressed adapter")
    return merge_lora(model)
