"""Fingerprint of a base model's tensor values, so an adapter can refuse a base it was not trained on.

It hashes values, not file bytes: every tensor is rounded to fp16 first, so the fp32 training checkpoint and
the fp16 inference file of one base agree. enc_q (absent from inference files) and LoRA tensors are left
out, and torch's parametrization names are mapped to upstream's ``weight_g``/``weight_v``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch
from torch import nn

_RENAMES = ((".parametrizations.weight.original0", ".weight_g"), (".parametrizations.weight.original1", ".weight_v"))


def canonical_key(key: str) -> str:
    """Upstream's name for a state_dict key (parametrization names → legacy weight-norm names)."""
    for new, old in _RENAMES:
        if key.endswith(new):
            return key[: -len(new)] + old
    return key


def _included(key: str) -> bool:
    return not key.startswith("enc_q.") and ".lora_" not in key and not key.startswith("lora_")


def base_fingerprint(state: nn.Module | Mapping[str, torch.Tensor]) -> str:
    """sha256 (hex) over sorted canonical keys, shapes and fp16 values of a model or state_dict."""
    state_dict = state.state_dict() if isinstance(state, nn.Module) else state
    items = sorted((canonical_key(k), v) for k, v in state_dict.items() if _included(k) and torch.is_tensor(v))
    digest = hashlib.sha256()
    for key, tensor in items:
        t = tensor.detach().cpu()
        t = t.to(torch.float16) if t.is_floating_point() else t.to(torch.int64)
        digest.update(f"{key}:{tuple(t.shape)}:{t.dtype}\n".encode())
        digest.update(t.contiguous().numpy().tobytes())
    return digest.hexdigest()
