"""Adapter files: save a model's LoRA, read one back, attach one to a plain base model.

Format (docs/adapter-format.md): ``.safetensors`` (default) or ``.pth`` by extension. Tensors are named
``<module path>.lora_A`` / ``<module path>.lora_B`` and ``full.<state_dict key>`` for whole modules (the
speaker embedding). Metadata is one JSON object — in the safetensors header under ``"rvclora"``, in a
``.pth`` next to the tensors — so the file explains itself; its fields are :class:`rvclora.lora.meta.AdapterMeta`.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rvclora.errors import BadInputError, IncompatibleError, OutputError, RvcloraWarning
from rvclora.fileio import atomic_write, require_file, safe_torch_load
from rvclora.lora.config import LoRAConfig
from rvclora.lora.fingerprint import base_fingerprint
from rvclora.lora.inject import lora_layers, lora_state, replace_module
from rvclora.lora.layers import LoRAConvTranspose1d, LoRALayer, cheaper_order, rank_dims, wrapper_class
from rvclora.lora.meta import FORMAT, FORMAT_VERSION, AdapterMeta, RvcIdentity
from rvclora.workspace.schema import UNVOICED_F0

FULL_PREFIX = "full."
META_KEY = "rvclora"  # safetensors header key, and the .pth top-level key holding the metadata
DEFAULT_DTYPE = torch.float16  # halves the file; fp16 keeps ~3 significant digits of ΔW, far below audible
SUFFIXES = (".safetensors", ".pth", ".pt")
# Bounds on an adapter's metadata, which may come from anyone: a real one is a few KB (one entry per layer)
# and four levels deep. Deeper or larger metadata is refused before anything walks it.
MAX_META_BYTES = 1 << 20
MAX_META_DEPTH = 32

Tensors = dict[str, torch.Tensor]


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise BadInputError(f"adapter file {path.name} must end in .safetensors or .pth", "rename it")
    return suffix


def collect_adapter(model: nn.Module) -> tuple[Tensors, AdapterMeta]:
    """The LoRA factors, full-module tensors and metadata of ``model``'s attached adapter (fp32, CPU).

    A loaded adapter's ``info``, unvoiced-F0 convention and unknown keys carry over to the new metadata."""
    layers = list(lora_layers(model))
    if not layers:
        raise BadInputError("the model has no LoRA adapter to save", "attach one with add_lora or load_lora")
    state = lora_state(model)
    config: LoRAConfig = state.get("config") or LoRAConfig(rank=layers[0][1].rank)
    loaded: AdapterMeta | None = state.get("metadata")
    tensors: Tensors = {}
    for path, layer in layers:
        tensors[f"{path}.lora_A"] = layer.lora_A.detach().to("cpu", torch.float32)
        tensors[f"{path}.lora_B"] = layer.lora_B.detach().to("cpu", torch.float32)
    for key, value in model.state_dict().items():
        if ".lora_" not in key and config.is_full_module(key.rpartition(".")[0]):
            tensors[FULL_PREFIX + key] = value.detach().to("cpu", torch.float32)
    first_path, first = layers[0]
    meta = AdapterMeta(
        config=config,
        scale=first.scale * (config.scale / config.scale_for(first_path)),  # at the config's own rank and alpha
        layers={p: layer.kind for p, layer in layers},
        conv_transpose_order={p: layer.order for p, layer in layers if isinstance(layer, LoRAConvTranspose1d)},
        rvc=RvcIdentity.of(model),
        base_fingerprint=state.get("base_fingerprint") or base_fingerprint(model),
        unvoiced_f0=loaded.unvoiced_f0 if loaded else None,
        info=dict(loaded.info) if loaded else {},
        extra=dict(loaded.extra) if loaded else {},
    )
    return tensors, meta


def write_adapter(
    path: str | os.PathLike[str], tensors: Tensors, meta: AdapterMeta, dtype: torch.dtype = DEFAULT_DTYPE
) -> Path:
    """Write an adapter atomically; the format follows the extension. Returns the path.

    The file's metadata adds the storage dtype and parameter count; absolute paths in ``info`` are not stored."""
    dest = Path(path).expanduser()
    suffix = _check_suffix(dest)
    if not dtype.is_floating_point:
        raise OutputError(f"adapter storage dtype must be a float type, got {dtype}", "use float16 or float32")
    stored = {k: v.detach().to("cpu", dtype).contiguous() for k, v in tensors.items()}
    params = sum(v.numel() for v in stored.values())
    written = replace(meta, dtype=str(dtype).removeprefix("torch."), params=params, info=portable_info(meta.info))
    text = written.to_json()  # plain JSON values only, in both formats
    with atomic_write(dest, size_hint=sum(v.numel() * v.element_size() for v in stored.values())) as tmp:
        if suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(stored, str(tmp), metadata={META_KEY: text})
        else:
            torch.save({META_KEY: json.loads(text), "tensors": stored}, tmp)
    return dest


def portable_info(info: dict[str, Any]) -> dict[str, Any]:
    """Adapters get shared, so absolute local paths stay out of them (the workspace keeps those): a path value
    is reduced to its file name under ``<key>_name``. Inference finds the workspace next to the adapter."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        if isinstance(value, str) and (os.path.isabs(value) or value.startswith("~")):
            out[f"{key}_name"] = Path(value).name
        else:
            out[key] = value
    return out


def save_lora(
    model: nn.Module,
    path: str | os.PathLike[str],
    dtype: torch.dtype = DEFAULT_DTYPE,
    unvoiced_f0: str | None = None,
    **info: Any,
) -> Path:
    """Save ``model``'s adapter to ``path`` (.safetensors or .pth); ``info`` lands in the metadata.

    ``unvoiced_f0``: the convention of the pitch it was trained on (``zero``/``fill``), recorded so inference
    uses the same by default.
    """
    tensors, meta = collect_adapter(model)
    meta.info.update(info)
    if unvoiced_f0 is not None:
        if unvoiced_f0 not in UNVOICED_F0:
            raise BadInputError(f"unknown unvoiced_f0 convention {unvoiced_f0!r}", "use zero or fill")
        meta.unvoiced_f0 = unvoiced_f0
    return write_adapter(path, tensors, meta, dtype)


def read_adapter(path: str | os.PathLike[str]) -> tuple[Tensors, AdapterMeta]:
    """Tensors (as stored) and metadata of an adapter file, without a model. Loads are always safe."""
    p = require_file(path, "adapter")
    suffix = _check_suffix(p)
    tensors: dict[str, Any] | None
    if suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(p), framework="pt") as f:
                header = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError, ValueError) as exc:
            raise BadInputError(f"adapter {p.name} is truncated or not a safetensors file", "re-export it") from exc
        text = header.get(META_KEY)
        _check_meta_size(p, len(text or ""))
        try:
            meta = json.loads(text) if text is not None else None
        except json.JSONDecodeError:
            meta = None
        except RecursionError:
            raise _too_deep(p) from None
    else:
        obj = safe_torch_load(p, "adapter")
        meta = obj.get(META_KEY) if isinstance(obj, dict) else None
        tensors = obj.get("tensors") if isinstance(obj, dict) else None
        if not isinstance(tensors, dict) or not all(torch.is_tensor(t) for t in tensors.values()):
            meta = None
    if _depth(meta) > MAX_META_DEPTH:
        raise _too_deep(p)
    if suffix != ".safetensors" and isinstance(meta, dict):
        _check_meta_size(p, len(json.dumps(meta, default=str)))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BadInputError(f"{p.name} is not an rvclora adapter (no rvclora metadata)", "give an adapter file")
    assert isinstance(tensors, dict)  # a .pth without a tensor dict has no metadata (above)
    try:
        typed = AdapterMeta.from_dict(meta)
    except (TypeError, ValueError, AttributeError) as exc:
        raise BadInputError(f"adapter {p.name} has malformed metadata ({exc})", "re-export it with rvclora") from None
    if typed.format_version > FORMAT_VERSION:
        raise IncompatibleError(
            f"adapter {p.name} uses format version {typed.format_version}, newer than this rvclora reads",
            "upgrade rvclora",
        )
    return tensors, typed


def _depth(obj: Any) -> int:
    """Nesting depth of dicts/lists (iterative, so a hostile depth cannot exhaust the stack)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            deepest = max(deepest, level)
            if deepest > MAX_META_DEPTH:
                return deepest
            stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _check_meta_size(path: Path, size: int) -> None:
    if size > MAX_META_BYTES:
        raise BadInputError(
            f"adapter {path.name} has {size // 1024} KB of metadata, more than an adapter needs "
            f"({MAX_META_BYTES // 1024} KB at most)",
            "refused; re-export it with rvclora",
        )


def _too_deep(path: Path) -> BadInputError:
    return BadInputError(
        f"adapter {path.name} has metadata nested more than {MAX_META_DEPTH} levels deep",
        "refused; re-export it with rvclora",
    )


def _plan_layers(
    model: nn.Module, tensors: Tensors, meta: AdapterMeta
) -> tuple[list[tuple[str, LoRALayer]], list[str]]:
    """Build (not yet attach) one wrapper per adapter layer; returns them and the problems found. A layer's rank
    is read from its tensors (files written before ``rank_pattern`` do not all state it)."""
    orders = meta.conv_transpose_order
    kinds = meta.layers
    paths = [k[: -len(".lora_A")] for k in tensors if k.endswith(".lora_A")]
    planned, problems = [], []
    for path in paths:
        a, b = tensors[f"{path}.lora_A"], tensors.get(f"{path}.lora_B")
        try:
            base = model.get_submodule(path)
        except AttributeError:
            problems.append(f"layer {path} does not exist in the model")
            continue
        cls = wrapper_class(base)
        if cls is None or b is None or (path in kinds and kinds[path] != cls.kind):
            problems.append(f"layer {path} is a {type(base).__name__}, not what the adapter expects")
            continue
        layer: LoRALayer
        if cls is LoRAConvTranspose1d and isinstance(base, nn.ConvTranspose1d):
            order = orders.get(path) or cheaper_order(base)
            layer = cls(base, a.shape[rank_dims(cls.kind, order)[0]], order=order)
        else:
            layer = cls(base, a.shape[rank_dims(cls.kind)[0]])
        shapes = layer.factor_shapes(layer.rank)
        if tuple(a.shape) != shapes[0] or tuple(b.shape) != shapes[1]:
            problems.append(f"layer {path}: adapter shapes {tuple(a.shape)}/{tuple(b.shape)} do not fit the model")
            continue
        with torch.no_grad():
            layer.lora_A.copy_(a)
            layer.lora_B.copy_(b)
        planned.append((path, layer))
    return planned, problems


def attach_adapter(
    model: nn.Module,
    tensors: Tensors,
    meta: AdapterMeta,
    scale: float = 1.0,
    force: bool = False,
    name: str = "adapter",
) -> AdapterMeta:
    """Attach an adapter (already read) to a plain base model, checking that it fits unless ``force``."""
    if any(True for _ in lora_layers(model)):
        raise IncompatibleError("the model already has a LoRA adapter attached", "merge or remove it first")
    fingerprint = base_fingerprint(model)
    wanted = meta.base_fingerprint
    problems = []
    if wanted and wanted != fingerprint:
        problems.append(f"{name} was trained on another base model (fingerprint {wanted[:12]} ≠ {fingerprint[:12]})")
    planned, layer_problems = _plan_layers(model, tensors, meta)
    problems += layer_problems
    full = full_tensors(tensors)
    own = model.state_dict()
    for key in [k for k in full if k not in own or own[k].shape != full[k].shape]:
        problems.append(f"full tensor {key} does not fit the model")
        del full[key]
    if problems and not force:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise IncompatibleError(f"{problems[0]}{more}", "use the base model the adapter was trained on, or force")
    for problem in problems:  # forced: each is a warning (the CLI shows it as one ``warning:`` line)
        warnings.warn(RvcloraWarning(f"{problem}; loading anyway (forced)"), stacklevel=2)
    for path, layer in planned:
        layer.scale = meta.layer_scale(path) * scale
        if meta.config.dropout > 0:
            layer.dropout = torch.nn.Dropout(meta.config.dropout)
        replace_module(model, path, layer)
    if full:
        model.load_state_dict(full, strict=False)
    state = lora_state(model)
    state.update(config=meta.config, base_fingerprint=wanted or fingerprint, metadata=meta)
    return meta


def load_lora(model: nn.Module, path: str | os.PathLike[str], scale: float = 1.0, force: bool = False) -> AdapterMeta:
    """Attach the adapter at ``path`` to ``model`` (in place) at ``scale``; returns its metadata.

    A base with another fingerprint, or layers whose shapes differ, raise IncompatibleError unless ``force``
    (then the misfits are skipped with a warning).
    """
    tensors, meta = read_adapter(path)
    return attach_adapter(model, tensors, meta, scale=scale, force=force, name=f"adapter {Path(path).name}")


def full_tensors(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The whole-module tensors of an adapter, keyed by their model state_dict key."""
    return {k[len(FULL_PREFIX) :]: v for k, v in tensors.items() if k.startswith(FULL_PREFIX)}
