"""The compress report per module group: a dozen readable lines instead of one row per layer (135 in RVC v2).

A layer's group is the first two named parts of its path, indices dropped: ``dec.resblocks.3.convs1.1`` →
``dec.resblocks``, ``enc_p.encoder.attn_layers.0.conv_q`` → ``enc_p.encoder``, ``emb_g`` → ``emb_g``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch


def module_group(path: str) -> str:
    named = [part for part in path.split(".") if not part.isdigit()]
    return ".".join(named[:2])


def summarize_groups(rows: Sequence[Mapping[str, Any]], tensors: Mapping[str, torch.Tensor]) -> list[dict[str, Any]]:
    """Per group, in first-seen order: layer count, rank range, LoRA parameters and the worst layer's fit.

    ``rows`` are the per-layer report rows (``layer``, ``rank``, ``rel_error``, ``energy``); ``tensors`` the
    adapter's tensors, whose ``<layer>.lora_A``/``.lora_B`` give the parameter count.
    """
    params: dict[str, int] = {}
    for key, tensor in tensors.items():
        if key.endswith((".lora_A", ".lora_B")):
            layer = key.rsplit(".", 1)[0]
            params[layer] = params.get(layer, 0) + tensor.numel()
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = module_group(row["layer"])
        g = groups.setdefault(
            name,
            {
                "group": name,
                "layers": 0,
                "rank_min": row["rank"],
                "rank_max": row["rank"],
                "params": 0,
                "rel_error_max": 0.0,
                "energy_min": 1.0,
            },
        )
        g["layers"] += 1
        g["rank_min"], g["rank_max"] = min(g["rank_min"], row["rank"]), max(g["rank_max"], row["rank"])
        g["params"] += params.get(row["layer"], 0)
        g["rel_error_max"] = max(g["rel_error_max"], row["rel_error"])
        g["energy_min"] = min(g["energy_min"], row["energy"])
    return list(groups.values())
