"""The merge stage: base + adapters → a standard RVC model, or a blended adapter (plain inputs → dict)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rvclora.errors import IncompatibleError, OutputError


def refuse_output_among_inputs(output: Path, base: Path, adapters: Sequence[Path]) -> None:
    """An output that is one of the inputs (same file, also through a link) would destroy it: refuse it,
    whatever ``--overwrite`` says."""
    from rvclora.fileio import same_file

    for what, path in [("base model", base), *(("adapter", p) for p in adapters)]:
        if same_file(output, path):
            raise OutputError(f"output {output} is the {what} {path} it is made from", "choose another output path")


def _read_all(adapters: Sequence[Path]) -> list[tuple[dict, dict]]:
    from rvclora.lora.adapter import read_adapter

    return [read_adapter(p) for p in adapters]


def _check_base(model: Any, adapters: Sequence[Path], loaded: Sequence[tuple[dict, dict]], force: bool) -> str:
    """Refuse adapters trained on another base (before any arithmetic); returns the base fingerprint."""
    from rvclora.lora.fingerprint import base_fingerprint

    fingerprint = base_fingerprint(model)
    for path, (_, meta) in zip(adapters, loaded, strict=True):
        wanted = meta.get("base_fingerprint")
        if wanted and wanted != fingerprint and not force:
            raise IncompatibleError(
                f"adapter {Path(path).name} was trained on another base model "
                f"(fingerprint {wanted[:12]} ≠ {fingerprint[:12]})",
                "use the base it was trained on, or --force",
            )
    return fingerprint


def _describe_blend(adapters: Sequence[Path], weights: Sequence[float]) -> str:
    return "rvclora merge: " + " + ".join(f"{Path(p).stem} × {w:g}" for p, w in zip(adapters, weights, strict=True))


def merge_to_model(
    base: Path,
    adapters: Sequence[Path],
    weights: Sequence[float],
    output: Path,
    precision: str = "fp16",
    info: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Bake Σ wᵢ·adapterᵢ into ``base`` and write an RVC inference model; returns a summary."""
    from rvclora.lora.merge import merge_weighted
    from rvclora.models.checkpoint import load_synthesizer, save_rvc_model

    refuse_output_among_inputs(output, base, adapters)
    model = load_synthesizer(base)
    loaded = _read_all(adapters)
    _check_base(model, adapters, loaded, force)
    model = merge_weighted(model, loaded, weights, force=force)
    save_rvc_model(model, output, precision=precision, info=info or _describe_blend(adapters, weights))
    params = sum(p.numel() for k, p in model.state_dict().items() if "enc_q" not in k)
    return {
        "output": str(output),
        "kind": "rvc-model",
        "adapters": [str(p) for p in adapters],
        "weights": list(weights),
        "params": params,
        "bytes": output.stat().st_size,
        "precision": precision,
    }


def merge_to_adapter(
    base: Path, adapters: Sequence[Path], weights: Sequence[float], output: Path, force: bool = False
) -> dict[str, Any]:
    """Write one adapter equal to Σ wᵢ·adapterᵢ (ranks concatenated, exact); returns a summary."""
    from rvclora.lora.adapter import write_adapter
    from rvclora.lora.merge import blend_adapters
    from rvclora.models.checkpoint import load_synthesizer

    refuse_output_among_inputs(output, base, adapters)
    model = load_synthesizer(base)
    loaded = _read_all(adapters)
    fingerprint = _check_base(model, adapters, loaded, force)
    tensors, meta = blend_adapters(loaded, weights, base=model.state_dict(), force=force)
    meta["base_fingerprint"] = fingerprint
    write_adapter(output, tensors, meta)
    params = sum(t.numel() for t in tensors.values())
    return {
        "output": str(output),
        "kind": "rvclora-adapter",
        "adapters": [str(p) for p in adapters],
        "weights": list(weights),
        "params": params,
        "bytes": output.stat().st_size,
        "rank": meta["config"]["rank"],
    }
