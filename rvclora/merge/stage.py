"""The merge stage: base + adapters → a standard RVC model, or a blended adapter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rvclora.errors import ConfigError, IncompatibleError, OutputError

if TYPE_CHECKING:
    from rvclora.lora.adapter import Tensors
    from rvclora.lora.meta import AdapterMeta


def refuse_output_among_inputs(output: Path, base: Path, adapters: Sequence[Path]) -> None:
    """An output that is one of the inputs (same file, also through a link) would destroy it: refuse it,
    whatever ``--overwrite`` says."""
    from rvclora.fileio import same_file

    for what, path in [("base model", base), *(("adapter", p) for p in adapters)]:
        if same_file(output, path):
            raise OutputError(f"output {output} is the {what} {path} it is made from", "choose another output path")


def _read_all(adapters: Sequence[Path]) -> list[tuple[Tensors, AdapterMeta]]:
    from rvclora.lora.adapter import read_adapter

    return [read_adapter(p) for p in adapters]


def _check_base(
    model: Any, adapters: Sequence[Path], loaded: Sequence[tuple[Tensors, AdapterMeta]], force: bool
) -> str:
    """Refuse adapters trained on another base (before any arithmetic); returns the base fingerprint."""
    from rvclora.lora.fingerprint import base_fingerprint

    fingerprint = base_fingerprint(model)
    for path, (_, meta) in zip(adapters, loaded, strict=True):
        wanted = meta.base_fingerprint
        if wanted and wanted != fingerprint and not force:
            raise IncompatibleError(
                f"adapter {Path(path).name} was trained on another base model "
                f"(fingerprint {wanted[:12]} ≠ {fingerprint[:12]})",
                "use the base it was trained on, or --force",
            )
    return fingerprint


def _describe_blend(adapters: Sequence[Path], weights: Sequence[float]) -> str:
    return "rvclora merge: " + " + ".join(f"{Path(p).stem} × {w:g}" for p, w in zip(adapters, weights, strict=True))


@dataclass(frozen=True)
class MergeRequest:
    """One merge: ``output`` ending in .pth bakes the adapters into an RVC model, .safetensors blends them into
    one adapter. ``weights`` are the blend shares (scaled by ``scale``); default: 1 for one adapter, the average
    for several."""

    base: Path
    adapters: Sequence[Path]
    output: Path
    weights: Sequence[float] | None = None
    scale: float = 1.0
    precision: str = "fp16"  # of an RVC model output
    info: str | None = None  # text stored in the model's info field
    force: bool = False  # merge even if an adapter was made for another base
    overwrite: bool = False


@dataclass
class MergeSummary:
    """What was written; :meth:`to_json` is ``rvclora merge --json``."""

    output: str
    kind: str  # "rvc-model" or "rvclora-adapter"
    adapters: list[str]
    weights: list[float]
    params: int
    bytes: int
    precision: str | None = None  # an RVC model's weight precision
    rank: int | None = None  # a blended adapter's rank

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("rank" if self.kind == "rvc-model" else "precision")
        return out


def run_merge(request: MergeRequest) -> MergeSummary:
    """The stage's entry point (``rvclora merge``, ``rvclora.merge``): check the output, then write it."""
    output, base, adapters = Path(request.output), Path(request.base), [Path(p) for p in request.adapters]
    if output.suffix.lower() not in (".pth", ".safetensors"):
        raise ConfigError(f"output {output.name} must end in .pth (RVC model) or .safetensors (adapter)")
    refuse_output_among_inputs(output, base, adapters)
    if output.exists() and not request.overwrite:
        raise OutputError(f"{output} already exists", "pass --overwrite to replace it")
    count = len(adapters)
    shares = list(request.weights) if request.weights else [1.0 / count] * count
    if len(shares) != count:
        raise ConfigError(f"--weights has {len(shares)} values for {count} adapters", "give one weight per --lora")
    blend = [w * request.scale for w in shares]
    if output.suffix.lower() == ".pth":
        return merge_to_model(base, adapters, blend, output, request.precision, request.info, request.force)
    return merge_to_adapter(base, adapters, blend, output, request.force)


def merge_to_model(
    base: Path,
    adapters: Sequence[Path],
    weights: Sequence[float],
    output: Path,
    precision: str = "fp16",
    info: str | None = None,
    force: bool = False,
) -> MergeSummary:
    """Bake Σ wᵢ·adapterᵢ into ``base`` and write an RVC inference model."""
    from rvclora.lora.merge import merge_weighted
    from rvclora.models.checkpoint import load_synthesizer, save_rvc_model

    refuse_output_among_inputs(output, base, adapters)
    model = load_synthesizer(base)
    loaded = _read_all(adapters)
    _check_base(model, adapters, loaded, force)
    model = merge_weighted(model, loaded, weights, force=force)
    save_rvc_model(model, output, precision=precision, info=info or _describe_blend(adapters, weights))
    params = sum(p.numel() for k, p in model.state_dict().items() if "enc_q" not in k)
    return MergeSummary(
        str(output), "rvc-model", [str(p) for p in adapters], list(weights), params, output.stat().st_size, precision
    )


def merge_to_adapter(
    base: Path, adapters: Sequence[Path], weights: Sequence[float], output: Path, force: bool = False
) -> MergeSummary:
    """Write one adapter equal to Σ wᵢ·adapterᵢ (ranks concatenated, exact)."""
    from rvclora.lora.adapter import write_adapter
    from rvclora.lora.merge import blend_adapters
    from rvclora.models.checkpoint import load_synthesizer

    refuse_output_among_inputs(output, base, adapters)
    model = load_synthesizer(base)
    loaded = _read_all(adapters)
    fingerprint = _check_base(model, adapters, loaded, force)
    tensors, meta = blend_adapters(loaded, weights, base=model.state_dict(), force=force)
    meta.base_fingerprint = fingerprint
    write_adapter(output, tensors, meta)
    params = sum(t.numel() for t in tensors.values())
    size = output.stat().st_size
    rank = meta.config.rank
    return MergeSummary(
        str(output), "rvclora-adapter", [str(p) for p in adapters], list(weights), params, size, rank=rank
    )
