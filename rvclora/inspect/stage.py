"""Tell what a file is: RVC models, pretrained G/D, rvclora adapters, HuBERT, RMVPE, retrieval indexes.

Each file is read once, safely (``weights_only``), and dispatched on what it holds, not on its name.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rvclora.errors import BadInputError

KIND_LABELS = {
    "rvc-model": "RVC voice model (inference .pth)",
    "rvc-train-G": "RVC generator (pretrained/training G)",
    "rvc-train-D": "RVC discriminator (pretrained/training D)",
    "rvclora-adapter": "rvclora LoRA adapter",
    "hubert": "HuBERT/ContentVec content encoder",
    "rmvpe": "RMVPE pitch model",
    "faiss-index": "retrieval index (faiss)",
}


@dataclass(frozen=True)
class InspectRequest:
    """One file to describe: any RVC/rvclora file (voice .pth, G/D, adapter, HuBERT, RMVPE, .index)."""

    path: Path


@dataclass
class FileDescription:
    """What a file is; ``details`` holds the fields of its kind (version, sr, rank, ...). :meth:`to_json` is
    ``rvclora inspect --json``."""

    path: str
    kind: str  # a key of KIND_LABELS
    label: str
    size_bytes: int
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "label": self.label,
            "size_bytes": self.size_bytes,
            **self.details,
        }


def run_inspect(request: InspectRequest) -> FileDescription:
    """The stage's entry point (``rvclora inspect``, ``rvclora.inspect``)."""
    desc = describe(request.path)
    head = {name: desc.pop(name) for name in ("path", "kind", "label", "size_bytes")}
    return FileDescription(**head, details=desc)


def describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A flat description of ``path``; raises BadInputError for a file rvclora does not know."""
    p = Path(path).expanduser()
    if not p.exists():
        raise BadInputError(f"file not found: {p}", "check the path")
    if p.is_dir():
        desc = _hubert(p, "huggingface")
    elif p.suffix.lower() == ".index":
        desc = _index(p)
    elif p.suffix.lower() == ".safetensors":
        desc = _safetensors(p)
    else:
        desc = _torch_file(p)
    size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size
    kind = desc.pop("kind")
    return {"path": str(p), "kind": kind, "label": KIND_LABELS[kind], "size_bytes": size, **desc}


def _finish(kind: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, **fields}


def _unknown(p: Path, found: str) -> BadInputError:
    return BadInputError(
        f"{p.name} is not a file rvclora knows ({found})",
        "inspect reads RVC models, G/D files, adapters, HuBERT, RMVPE and .index files",
    )


def _index(p: Path) -> dict[str, Any]:
    from rvclora.features.index import describe_index

    info = describe_index(p)
    info.pop("path", None)
    info["index_type"] = info.pop("kind")
    return _finish("faiss-index", **info)


def _hubert(p: Path, layout: str) -> dict[str, Any]:
    """``layout``: fairseq (``{"cfg", "model": state}``) or huggingface (a folder, or a bare state)."""
    from dataclasses import asdict

    from rvclora.features.hubert_load import read_checkpoint

    arch, state, normalize = read_checkpoint(p)
    return _finish(
        "hubert",
        layout=layout,
        n_params=sum(int(t.numel()) for t in state.values()),
        dtype=_dtype(state),
        normalize=normalize,
        architecture=asdict(arch),
    )


def _is_fairseq(p: Path) -> bool:
    import torch

    try:
        return "fairseq.data.dictionary.Dictionary" in torch.serialization.get_unsafe_globals_in_checkpoint(str(p))
    except Exception:
        return False


def _safetensors(p: Path) -> dict[str, Any]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
            keys = list(f.keys())
    except (SafetensorError, OSError, ValueError) as exc:
        raise BadInputError(f"{p.name} is truncated or not a safetensors file", "re-download or re-export it") from exc
    from rvclora.lora.adapter import META_KEY

    if META_KEY in meta:
        return _adapter(p)
    if any(k.startswith(("encoder.layers.", "hubert.encoder.")) for k in keys):
        return _hubert(p, "huggingface")
    raise _unknown(p, f"{len(keys)} tensors, first {keys[0]!r}" if keys else "no tensors")


def _torch_file(p: Path) -> dict[str, Any]:
    if _is_fairseq(p):
        return _hubert(p, "fairseq")
    from rvclora.fileio import safe_torch_load
    from rvclora.lora.adapter import META_KEY

    obj = safe_torch_load(p, "file")
    if isinstance(obj, Mapping) and META_KEY in obj:
        return _adapter(p)
    from rvclora.models.checkpoint import describe_checkpoint

    info = describe_checkpoint(obj)
    if info["kind"] != "unknown":
        return _finish(info.pop("kind"), **info)
    if isinstance(obj, Mapping) and any(str(k).startswith("unet.") for k in obj):
        return _rmvpe(p, obj)
    if _hubert_like(obj):
        return _hubert(p, "fairseq" if isinstance(obj.get("model"), Mapping) else "huggingface")
    raise _unknown(p, _what(obj))


def _hubert_like(obj: Any) -> bool:
    """Every layout the content-encoder loader accepts: fairseq's ``{"cfg", "model": state}`` (with or without
    its label Dictionary, e.g. the demo's encoder) or a Hugging Face state, bare or under ``hubert.``."""
    if not isinstance(obj, Mapping):
        return False
    state = obj["model"] if isinstance(obj.get("model"), Mapping) else obj
    return any(str(k).startswith(("encoder.layers.", "feature_extractor.", "hubert.")) for k in state)


def _rmvpe(p: Path, state: Mapping[str, Any]) -> dict[str, Any]:
    from dataclasses import asdict

    from rvclora.features.rmvpe_net import RmvpeArch

    try:
        arch = RmvpeArch.from_state_dict(state)
    except KeyError as exc:
        raise _unknown(p, f"RMVPE-like keys but {exc} is missing") from exc
    return _finish(
        "rmvpe",
        n_params=sum(int(t.numel()) for k, t in state.items() if "num_batches" not in k),
        dtype=_dtype(state),
        architecture=asdict(arch),
    )


def _adapter(p: Path) -> dict[str, Any]:
    from rvclora.lora.adapter import read_adapter

    tensors, meta = read_adapter(p)
    config = meta.config
    return _finish(
        "rvclora-adapter",
        format_version=meta.format_version,
        rank=config.rank,
        alpha=config.alpha,
        rslora=config.rslora,
        scale=meta.scale,
        targets=config.targets,
        full_modules=config.full_modules,
        layers=len(meta.layers),
        version=meta.rvc.version,
        sr=meta.rvc.sr,
        f0=meta.rvc.f0,
        unvoiced_f0=meta.unvoiced_f0,
        base_fingerprint=meta.base_fingerprint,
        n_params=sum(int(t.numel()) for t in tensors.values()),
        dtype=_dtype(tensors),
        created=meta.created,
        info=meta.info,
    )


def _dtype(state: Mapping[str, Any]) -> str | None:
    counts = Counter(str(t.dtype).replace("torch.", "") for t in state.values() if hasattr(t, "dtype"))
    return counts.most_common(1)[0][0] if counts else None


def _what(obj: Any) -> str:
    if isinstance(obj, Mapping):
        keys = [str(k) for k in obj][:4]
        return f"a dict with keys {', '.join(keys)}" if keys else "an empty dict"
    return f"a {type(obj).__name__}"
