"""The compress stage: plain inputs (paths, options) → an adapter file and a JSON-ready fidelity report."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rvclora.compress import assemble
from rvclora.compress import probe as probes
from rvclora.compress.difference import Difference, split_difference
from rvclora.compress.factor import Layout, Spectrum
from rvclora.compress.groups import summarize_groups
from rvclora.compress.ranks import Ranks, fixed_ranks, search_ranks
from rvclora.compress.settings import (
    DEFAULT_PRECISION,
    DEFAULT_PROBE_SECONDS,
    DEFAULT_TARGET_SNR,
    DEFAULT_TARGETS,
    UNRELATED_REL_DIFF,
)
from rvclora.errors import BadInputError, ConfigError, IncompatibleError, OutputError
from rvclora.lora.meta import AdapterMeta

if TYPE_CHECKING:
    from rvclora.models.synthesizer import Synthesizer

LOW_ENERGY = 0.5  # a layer whose kept rank captures under half of ‖ΔW‖² is "not low rank"


@dataclass
class CompressOptions:
    """What changes the adapter and the numbers reported. ``rank`` None = auto."""

    rank: int | None = None
    target_snr: float = DEFAULT_TARGET_SNR
    targets: str | list[str] = DEFAULT_TARGETS
    precision: str = DEFAULT_PRECISION
    probe_seconds: float = DEFAULT_PROBE_SECONDS
    probe: Path | None = None
    hubert: Path | None = None
    f0_method: str = "harvest"
    rmvpe: Path | None = None
    force: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.rank is not None and self.rank < 1:
            raise ConfigError(f"--rank must be a positive integer or auto, got {self.rank}")
        if self.precision not in ("fp16", "fp32"):
            raise ConfigError(f"unknown precision {self.precision!r}", "use fp16 or fp32")
        if self.probe is not None and self.hubert is None:
            raise ConfigError("--probe needs the content encoder", "pass --hubert hubert_base.pt")


def _check_output(output: Path, overwrite: bool) -> None:
    if output.suffix.lower() not in (".safetensors", ".pth"):
        raise ConfigError(f"output {output.name} must end in .safetensors or .pth")
    if output.exists() and not overwrite:
        raise OutputError(f"{output} already exists", "pass --overwrite to replace it")


def _finite(x: float | None) -> float | None:
    """JSON has no infinity: an exact match (SNR ∞) is reported as null with max_abs 0."""
    return None if x is None or not math.isfinite(x) else round(float(x), 4)


def make_probe(model: Synthesizer, options: CompressOptions) -> probes.Probe:
    cfg = model.config
    if options.probe is None:
        return probes.synthetic_probe(cfg.content_dim, bool(cfg.f0), options.probe_seconds)
    assert options.hubert is not None  # CompressOptions refuses --probe without --hubert
    return probes.audio_probe(
        options.probe, cfg.content_dim, cfg.version, bool(cfg.f0), options.hubert, options.f0_method, options.rmvpe
    )


def _audio(reference: np.ndarray, model: Synthesizer, probe: probes.Probe) -> dict[str, Any]:
    test = probes.render(model, probe)
    result = probes.agreement(reference, test, model.config.sr, probe.f0)
    return {
        "probe": probe.name,
        "seconds": probe.seconds,
        "snr_db": _finite(result["snr_db"]),
        "mcd_db": _finite(result["mcd_db"]),
        "max_abs": result["max_abs"],
    }


def _layer_rows(diff: Difference, ranks: Ranks) -> list[dict[str, Any]]:
    rows = []
    for c in diff.layers:
        r = ranks.get(c.path, 0)
        err = c.spectrum.residual(r)
        rows.append(
            {
                "layer": c.path,
                "kind": c.layout.kind,
                "rank": r,
                "max_rank": c.spectrum.max_rank,
                "rel_diff": c.rel_diff if math.isfinite(c.rel_diff) else None,  # None: the base weight is 0
                "rel_error": err,
                "energy": 1.0 - err * err,
            }
        )
    return rows


def _low_rank_warning(rows: list[dict[str, Any]], snr_db: float | None, options: CompressOptions) -> str | None:
    """Warn that the change is not low rank only when the audio agrees: a fixed rank that misses the SNR target.

    With --rank auto the search already chose the ranks for the target: it either reached it (then many
    partially kept layers are fine) or a separate warning says it did not.
    """
    low = [r for r in rows if r["energy"] < LOW_ENERGY]
    if options.rank is None or not rows or len(low) <= len(rows) / 2:
        return None
    if snr_db is None or snr_db >= options.target_snr:  # None: exact
        return None
    return (
        f"at rank {options.rank} base + adapter reaches {snr_db:.1f} dB SNR, under the {options.target_snr:g} dB "
        f"target, and {len(low)} of {len(rows)} layers keep under {LOW_ENERGY:.0%} of their change: the "
        "difference is not low rank at this rank (raise --rank, or use --rank auto)"
    )


def compress_model(voice_path: Path, base_path: Path, output: Path, options: CompressOptions) -> dict[str, Any]:
    """Compress the RVC voice at ``voice_path`` into an adapter on ``base_path``; returns the report."""
    from rvclora.lora.config import LoRAConfig
    from rvclora.lora.fingerprint import base_fingerprint
    from rvclora.lora.inject import candidate_layers
    from rvclora.models.checkpoint import load_synthesizer

    _check_output(output, options.overwrite)
    base, voice = load_synthesizer(base_path), load_synthesizer(voice_path)
    base.remove_posterior_encoder()
    config = LoRAConfig(targets=options.targets)
    missing = config.unmatched_patterns(candidate_layers(base))
    if missing:
        raise ConfigError(
            f"target pattern(s) {', '.join(missing)} match no layer of the base",
            "check --targets (a preset or module paths like dec.ups.*)",
        )
    diff = split_difference(voice, base, config)
    warnings: list[str] = []
    median = diff.median_rel_diff
    if median > UNRELATED_REL_DIFF:
        message = (
            f"{voice_path.name} was not trained from {base_path.name}: its layers differ from the base by "
            f"{median:.0%} of their size (median; fine-tunes change a few percent), so the difference is "
            "not low rank and the adapter would be large or wrong"
        )
        if not options.force:
            raise IncompatibleError(message, "give the base the voice was trained from, or --force")
        warnings.append(message)
    fingerprint = base_fingerprint(base)
    layouts = {c.path: c.layout for c in diff.layers}
    info = {"base": str(base_path), "source": str(voice_path), "compressed_from": voice_path.name}

    def build(ranks: Ranks) -> tuple[dict[str, torch.Tensor], AdapterMeta, torch.dtype, str | None]:
        tensors = {}
        for c in diff.layers:
            if ranks.get(c.path, 0) > 0:
                tensors.update(assemble.layer_factors(c.path, c.layout, c.spectrum, ranks[c.path]))
        tensors.update(assemble.full_entries(diff.full))
        dtype, note = assemble.storage_dtype(tensors, options.precision)
        meta = assemble.adapter_metadata(base, fingerprint, options.targets, layouts, ranks, list(diff.full), info)
        return assemble.as_stored(tensors, dtype), meta, dtype, note

    probe = make_probe(voice, options)
    reference = probes.render(voice, probe)

    def snr_of(ranks: Ranks) -> float:
        tensors, meta, _, _ = build(ranks)
        test = probes.render(assemble.with_adapter(base, tensors, meta), probe)
        return probes.agreement(reference, test, voice.config.sr, probe.f0)["snr_db"]  # type: ignore[return-value]

    mode: dict[str, Any]
    if options.rank is None:
        choice = search_ranks(diff.layers, snr_of, options.target_snr)
        ranks = choice.ranks
        mode = {
            "rank": "auto",
            "target_snr_db": options.target_snr,
            "eps": choice.eps,
            "evaluations": choice.evaluations,
        }
        if not choice.reached:
            warnings.append(
                f"the target SNR {options.target_snr:g} dB was not reached even at the finest budget "
                f"({_finite(choice.snr_db)} dB)"
            )
    else:
        ranks = fixed_ranks(diff.layers, options.rank)
        mode = {"rank": options.rank}
    tensors, meta, dtype, note = build(ranks)
    if note:
        warnings.append(note)
    rows = _layer_rows(diff, ranks)
    audio = _audio(reference, assemble.with_adapter(base, tensors, meta), probe)
    low_rank = _low_rank_warning(rows, audio["snr_db"], options)
    if low_rank:
        warnings.append(low_rank)
    meta.info["compress"] = {**mode, "snr_db": audio["snr_db"], "probe": audio["probe"]}
    from rvclora.lora.adapter import write_adapter

    write_adapter(output, tensors, meta, dtype)
    source_bytes, out_bytes = voice_path.stat().st_size, output.stat().st_size
    return {
        "source": str(voice_path),
        "base": str(base_path),
        "output": str(output),
        **mode,
        "bytes": {
            "source": source_bytes,
            "adapter": out_bytes,
            "saved": source_bytes - out_bytes,
            "ratio": source_bytes / out_bytes if out_bytes else None,
        },
        "params": sum(t.numel() for t in tensors.values()),
        "dtype": str(dtype).removeprefix("torch."),
        "layers": rows,
        "groups": summarize_groups(rows, tensors),
        "unchanged_layers": diff.unchanged_layers,
        "full": {"keys": sorted(diff.full), "params": sum(t.numel() for t in diff.full.values())},
        "median_rel_diff": median,
        "audio": audio,
        "warnings": warnings,
    }


def compress_folder(folder: Path, base_path: Path, out_dir: Path, options: CompressOptions) -> dict[str, Any]:
    """Compress every RVC model (``*.pth``) in ``folder`` into ``out_dir``; one refusal does not stop the rest."""
    if not folder.is_dir():
        raise BadInputError(f"{folder} is not a folder", "give the folder holding the .pth voice models")
    models = sorted(p for p in folder.glob("*.pth") if p.resolve() != base_path.resolve())
    if not models:
        raise BadInputError(f"no .pth models in {folder}", "give the folder holding the .pth voice models")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out_dir}: {exc.strerror}", "choose a writable -o folder") from exc
    results = []
    for path in models:
        output = out_dir / f"{path.stem}.safetensors"
        entry: dict[str, Any] = {"source": str(path), "output": str(output)}
        if output.exists() and not options.overwrite:
            entry.update(status="skipped (exists)")
        else:
            try:
                entry.update(status="ok", report=compress_model(path, base_path, output, options))
            except (BadInputError, IncompatibleError) as exc:
                entry.update(status="refused", reason=str(exc))
        results.append(entry)
    done = [e["report"] for e in results if e["status"] == "ok"]
    return {
        "base": str(base_path),
        "folder": str(folder),
        "output": str(out_dir),
        "models": results,
        "compressed": len(done),
        "bytes_saved": sum(r["bytes"]["saved"] for r in done),
        "refused": sum(e["status"] == "refused" for e in results),
    }


def resize_adapter(
    adapter_path: Path, rank: int, output: Path, base_path: Path | None = None, options: CompressOptions | None = None
) -> dict[str, Any]:
    """Re-cut an adapter to ``rank`` per layer: the SVD of its own B·A (exact when ``rank`` ≥ the old rank).

    With ``base_path`` the audio agreement (old vs new adapter on that base) is measured too.
    """
    from rvclora.lora.adapter import read_adapter, write_adapter

    options = options or CompressOptions(rank=rank)
    _check_output(output, options.overwrite)
    tensors, meta = read_adapter(adapter_path)
    orders, kinds = meta.conv_transpose_order, meta.layers
    new: dict[str, torch.Tensor] = {}
    rows, ranks, layouts = [], {}, {}
    for key in [k for k in tensors if k.endswith(".lora_A")]:
        path = key[: -len(".lora_A")]
        a, b = tensors[key].to(torch.float32), tensors[f"{path}.lora_B"].to(torch.float32)
        if path not in kinds:
            raise BadInputError(
                f"adapter {adapter_path.name} does not record the kind of layer {path}",
                "re-save it with a current rvclora",
            )
        layout = Layout(kinds[path], _weight_shape(kinds[path], orders.get(path), a, b), orders.get(path))
        left, right = layout.from_factors(a, b)
        spectrum = Spectrum.of_product(left * meta.layer_scale(path), right)
        old = left.shape[1]
        keep = min(rank, spectrum.max_rank)
        if keep > 0:
            new.update(assemble.layer_factors(path, layout, spectrum, keep))
        err = spectrum.residual(keep)
        ranks[path], layouts[path] = keep, layout
        rows.append(
            {
                "layer": path,
                "kind": layout.kind,
                "old_rank": old,
                "rank": keep,
                "rel_error": err,
                "energy": 1.0 - err * err,
            }
        )
    new.update({k: v for k, v in tensors.items() if not k.endswith((".lora_A", ".lora_B"))})
    dtype, note = assemble.storage_dtype(new, options.precision)
    kept = {p: r for p, r in ranks.items() if r > 0}
    config = meta.config
    out_meta = replace(
        meta,
        config=assemble.layer_ranks_config(
            kept,
            dropout=config.dropout,
            targets=config.targets,
            exclude=config.exclude,
            full_modules=config.full_modules,
        ),
        scale=1.0,
        layers={p: kinds[p] for p in kept},
        conv_transpose_order={p: orders[p] for p in kept if p in orders},
        info={**meta.info, "resized_from": adapter_path.name, "resize_rank": rank},
    )
    warnings = [note] if note else []
    audio = None
    if base_path is not None:
        from rvclora.models.checkpoint import load_synthesizer

        base = load_synthesizer(base_path)
        probe = make_probe(base, options)
        reference = probes.render(assemble.with_adapter(base, tensors, meta), probe)
        audio = _audio(reference, assemble.with_adapter(base, assemble.as_stored(new, dtype), out_meta), probe)
    write_adapter(output, new, out_meta, dtype)
    return {
        "source": str(adapter_path),
        "output": str(output),
        "rank": rank,
        "layers": rows,
        "groups": summarize_groups(rows, new),
        "bytes": {
            "source": adapter_path.stat().st_size,
            "adapter": output.stat().st_size,
            "saved": adapter_path.stat().st_size - output.stat().st_size,
        },
        "params": sum(t.numel() for t in new.values()),
        "dtype": str(dtype).removeprefix("torch."),
        "audio": audio,
        "warnings": warnings,
    }


@dataclass(frozen=True)
class CompressRequest:
    """One compress run: a voice model (``source`` + ``base``) → an adapter; an adapter as ``source`` → a
    smaller ``options.rank``; or every ``.pth`` in ``folder`` (with ``base``) → adapters in the ``output`` folder.
    ``output`` default: the source's name with .safetensors (``-r<rank>`` added for a resized adapter)."""

    source: Path | None = None
    base: Path | None = None
    output: Path | None = None
    folder: Path | None = None
    options: CompressOptions = field(default_factory=CompressOptions)


@dataclass
class CompressSummary:
    """``mode`` is ``model``, ``adapter`` (resized) or ``folder``; ``report`` is that mode's report (sizes, ranks
    per layer and per module group, audio agreement; docs/compress.md), which :meth:`to_json` prints."""

    mode: str
    report: dict[str, Any]

    @property
    def warnings(self) -> list[str]:
        return list(self.report.get("warnings", []))

    def to_json(self) -> dict[str, Any]:
        return self.report


def run_compress(request: CompressRequest) -> CompressSummary:
    """The stage's entry point (``rvclora compress``, ``rvclora.compress``): pick the mode, check the inputs,
    and run it."""
    from rvclora.fileio import require_file

    source, base, output, folder = (
        None if p is None else Path(p) for p in (request.source, request.base, request.output, request.folder)
    )
    options = request.options
    if folder is not None:
        if source is not None or base is None or output is None:
            raise ConfigError(
                "--folder takes no SOURCE and needs --base and -o OUTPUT_FOLDER",
                "e.g. rvclora compress --folder models/ --base f0G40k.pth -o adapters/",
            )
        return CompressSummary("folder", compress_folder(folder, base, output, options))
    if source is None:
        raise ConfigError("give a voice model (or an adapter) to compress, or --folder")
    require_file(source, "model")
    if is_adapter(source):
        if options.rank is None:
            raise ConfigError("resizing an adapter needs a number: --rank N", "e.g. --rank 4")
        out = output or source.with_name(f"{source.stem}-r{options.rank}.safetensors")
        return CompressSummary("adapter", resize_adapter(source, options.rank, out, base, options))
    if base is None:
        raise ConfigError("compressing a voice model needs its base", "pass --base f0G40k.pth (the pretrained G)")
    return CompressSummary("model", compress_model(source, base, output or source.with_suffix(".safetensors"), options))


def is_adapter(path: Path) -> bool:
    """An rvclora adapter (.safetensors, or a .pth holding rvclora metadata) rather than an RVC model."""
    if path.suffix.lower() == ".safetensors":
        return True
    from rvclora.fileio import safe_torch_load
    from rvclora.lora.adapter import META_KEY

    obj = safe_torch_load(path, "model or adapter")
    return isinstance(obj, dict) and META_KEY in obj


def _weight_shape(kind: str, order: str | None, a: torch.Tensor, b: torch.Tensor) -> tuple[int, ...]:
    """The base weight's shape, read from the factors (the file has no base)."""
    if kind == "linear":
        return (b.shape[0], a.shape[1])
    if kind == "embedding":
        return (a.shape[1], b.shape[0])
    if kind == "conv1d":
        return (b.shape[0], a.shape[1], a.shape[2])
    if order == "transposed_first":
        return (a.shape[0], b.shape[0], a.shape[2])
    return (a.shape[1], b.shape[1], b.shape[2])
