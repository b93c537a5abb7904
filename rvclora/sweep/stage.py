"""The ``rvclora sweep`` stage on a workspace: split, train every variant, render the held-out clips, score.

Each variant lives in ``sweep/<variant>/`` (its own adapters/, checkpoints/, logs/ and heldout/ renders),
so the workspace's normal outputs are never touched. A variant is finished when its ``result.json`` holds
the same settings key as now: it is reused. An interrupted variant resumes from its own checkpoints
(the training loop's resume); a variant whose settings changed starts over.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rvclora.sweep.gain import gain_pct
from rvclora.sweep.variants import FLOOR, FULL, SweepOptions, Variant, plan_variants
from rvclora.workspace.overrides import Overrides

if TYPE_CHECKING:
    from rvclora.train.progress import TrainProgress

SWEEP_DIR = "sweep"
RESULT = "result.json"
KEY = "key.json"
METRICS = ("mcd_db", "f0_rmse_cents", "spectral_convergence", "speaker_similarity")


@dataclass
class VariantResult:
    """One row of the sweep table: what a variant costs and how close its held-out renders come."""

    name: str
    kind: str
    rank: int | None
    preset: str | None
    lr: float
    bytes: int
    train_seconds: float
    steps: int
    output: str
    metrics: dict[str, float | None]  # means over the held-out clips
    reused: bool = False
    gain_mcd_pct: float | None = None
    gain_speaker_pct: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SweepSummary:
    """Everything ``rvclora sweep`` reports (the table, ``--json`` and the plot read this)."""

    workspace: str
    steps: int
    seed: int
    train_clips: int
    held_out_clips: list[str]
    held_out_sources: list[str]
    variants: list[VariantResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """What ``rvclora sweep --json`` prints."""
        return {
            **{k: v for k, v in asdict(self).items() if k != "variants"},
            "variants": [v.to_dict() for v in self.variants],
        }


VariantEvent = Callable[[int, int, Variant, bool], None]  # (index, total, variant, reused)


@dataclass(frozen=True)
class SweepRequest:
    """One sweep: the workspace (created if missing), the settings it changes, and what to sweep."""

    workspace: Path
    overrides: Overrides = field(default_factory=Overrides)
    options: SweepOptions = field(default_factory=SweepOptions)


def run_sweep(
    request: SweepRequest, *, on_variant: VariantEvent | None = None, progress: TrainProgress | None = None
) -> SweepSummary:
    """The stage's entry point (``rvclora sweep``, ``rvclora.sweep``): run (or resume) a sweep on the
    workspace, holding its lock; the request's settings are stored only once the sweep has succeeded.
    ``progress`` is told each variant's training."""
    from rvclora.train.workflow import bring_up_to_date
    from rvclora.workspace import Workspace

    options = request.options
    ws = Workspace.open(
        request.workspace,
        overrides=request.overrides,
        required={
            "assets.base": ("no base model configured", "give --base pretrained_v2/f0G40k.pth (stored in rvclora.yaml)")
        },
    )
    if ws.input_dir.is_dir():  # fail before preprocess and extract do any work
        from rvclora.audio.preprocess import find_sources
        from rvclora.sweep.holdout import require_sources

        require_sources(len(find_sources(ws.input_dir, ws.settings.speaker_id)))
    with ws.lock("sweep"):
        bring_up_to_date(ws)
        summary = _run(ws, options, on_variant, progress)
    ws.save_settings()  # flags are stored only once the sweep has succeeded
    return summary


def _run(
    ws: Any, options: SweepOptions, on_variant: VariantEvent | None, progress: TrainProgress | None
) -> SweepSummary:
    from rvclora.audio.preprocess import list_clips
    from rvclora.sweep.holdout import split_by_source
    from rvclora.train.data import find_clips
    from rvclora.train.workflow import speaker_ids

    s = ws.settings
    seed = s.train.seed if options.seed is None else options.seed
    clips = find_clips(ws.clips_dir(), ws.features_dir, ws.f0_dir if s.f0 else None, speaker_ids(ws))
    recorded = {r.clip.stem: r.source for r in list_clips(ws.manifest)}
    # Clips preprocess did not cut (extract's silence clip) always train: they belong to no recording.
    source_of = {c.name: recorded[c.name] for c in clips if c.name in recorded}
    train_names, held_names = split_by_source(source_of, options.holdout, seed)
    train_names = sorted(train_names + [c.name for c in clips if c.name not in recorded])
    by_name = {c.name: c for c in clips}
    train = [by_name[n] for n in train_names]
    held = [by_name[n] for n in held_names]
    summary = SweepSummary(
        str(ws.root), options.steps, seed, len(train), held_names, sorted({source_of[n] for n in held_names})
    )
    from rvclora.train.options import default_lr

    variants = plan_variants(options, float(s.train.lr) if s.train.lr is not None else default_lr(False))
    sweep_dir = ws.root / SWEEP_DIR
    references = _write_references(ws, held, sweep_dir / "reference")
    for i, variant in enumerate(variants):
        key = _key(ws, variant, options, seed, train_names, held_names)
        folder = sweep_dir / variant.name
        done = None if options.restart else _finished(folder, key)
        if on_variant:
            on_variant(i, len(variants), variant, done is not None)
        if done is None:
            done = _train_and_score(ws, variant, key, folder, train, held, references, options, seed, progress)
        summary.variants.append(done)
    add_gains(summary.variants)
    if not options.full:
        summary.notes.append("no full fine-tuning variant (--no-full): the gain columns are empty")
    return summary


def add_gains(rows: list[VariantResult]) -> None:
    """Fill each row's % of full fine-tuning's MCD and speaker-similarity gain (from the floor)."""
    floor = next((r for r in rows if r.name == FLOOR), None)
    full = next((r for r in rows if r.name == FULL), None)
    for r in rows:
        for metric, attr in (("mcd_db", "gain_mcd_pct"), ("speaker_similarity", "gain_speaker_pct")):
            value = gain_pct(
                r.metrics.get(metric),
                floor.metrics.get(metric) if floor else None,
                full.metrics.get(metric) if full else None,
            )
            setattr(r, attr, value)


def _key(
    ws: Any, variant: Variant, options: SweepOptions, seed: int, train: list[str], held: list[str]
) -> dict[str, Any]:
    """Everything a finished variant depends on; any change retrains it."""
    from rvclora.features.extract import file_identity

    train_settings = {
        k: v
        for k, v in ws.settings.train.as_dict().items()
        if k not in ("keep", "save_every", "log_every", "cache", "precision")
    }
    return {
        "variant": asdict(variant),
        "steps": options.steps,
        "seed": seed,
        "train": train,
        "held_out": held,
        "base": file_identity(ws.settings.assets.base),
        "base_d": file_identity(ws.settings.assets.base_d),
        "train_settings": train_settings,
        "lora_scale": _alpha_per_rank(ws),
    }


def _alpha_per_rank(ws: Any) -> float:
    """The workspace's LoRA scale (alpha / rank), kept for every rank so ranks are compared at one scale."""
    return float(ws.settings.lora.alpha) / float(ws.settings.lora.rank)


def _finished(folder: Path, key: dict[str, Any]) -> VariantResult | None:
    path = folder / RESULT
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("key") != json.loads(json.dumps(key)) or not Path(data["result"]["output"]).is_file():
        return None
    return VariantResult(**{**data["result"], "reused": True})


def _write_json(path: Path, obj: Any) -> None:
    from rvclora.fileio import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=str), encoding="utf-8")


def _train_and_score(
    ws: Any,
    variant: Variant,
    key: dict[str, Any],
    folder: Path,
    train: list,
    held: list,
    references: dict[str, Path],
    options: SweepOptions,
    seed: int,
    progress: TrainProgress | None,
) -> VariantResult:
    from rvclora.train.loop import run_training

    restart = options.restart or _stale(folder / KEY, key)
    _write_json(folder / KEY, key)
    result = run_training(_job(ws, variant, folder, train, options, seed, restart), progress)
    if result.output is None:  # finished checkpoints, but the final file was deleted since
        from rvclora.errors import OutputError

        raise OutputError(
            f"sweep variant {variant.name}: training is finished but its output file is gone",
            "run the sweep again with --restart",
        )
    renders = _render_held_out(ws, variant, result.output, held, folder / "heldout")
    metrics = _score(ws, references, renders)
    row = VariantResult(
        variant.name,
        variant.kind,
        variant.rank,
        variant.preset,
        variant.lr,
        result.output.stat().st_size,
        round(sum(float(h.get("seconds", 0.0)) for h in result.history), 3),
        result.steps,
        str(result.output),
        metrics,
    )
    _write_json(folder / RESULT, {"key": key, "result": row.to_dict()})
    return row


def _stale(path: Path, key: dict[str, Any]) -> bool:
    """Checkpoints in the folder were made for other settings (or their settings are unknown)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")) != json.loads(json.dumps(key))
    except (OSError, ValueError):
        return True


def _job(ws: Any, variant: Variant, folder: Path, train: list, options: SweepOptions, seed: int, restart: bool):
    """The training job of one variant: the workspace's settings with the sweep's steps, seed and lr."""
    from rvclora.features.extract import pitch_convention
    from rvclora.lora.config import LoRAConfig
    from rvclora.train.options import TrainJob, TrainOptions

    s = ws.settings
    settings = {
        **s.train.as_dict(),
        "epochs": options.steps,
        "max_steps": options.steps,
        "seed": seed,
        "lr": variant.lr,
        "val_fraction": 0.0,
        "early_stopping_patience": 0,
        "full": variant.kind == "full",
    }
    lora = {**s.lora.as_dict(), **variant.lora(_alpha_per_rank(ws))}
    return TrainJob(
        name=variant.name,
        base=Path(s.assets.base),
        base_d=None if s.assets.base_d is None else Path(s.assets.base_d),
        clips=train,
        adapters_dir=folder / "adapters",
        checkpoints_dir=folder / "checkpoints",
        logs_dir=folder / "logs",
        lora=LoRAConfig.from_dict(lora),
        options=TrainOptions.from_settings(settings, s.device),
        version=s.version,
        sr=ws.sample_rate,
        f0=bool(s.f0),
        restart=restart,
        unvoiced_f0=pitch_convention(ws.manifest) if s.f0 else None,
        info={"base": str(s.assets.base), "workspace": str(ws.root), "sweep_variant": variant.name},
    )


def _items(ws: Any, clips: list) -> list:
    from rvclora.train.frontend import FrontEnd
    from rvclora.train.loader import ItemStore

    s = ws.settings
    content_dim = 768 if s.version == "v2" else 256
    store = ItemStore(clips, ws.sample_rate, FrontEnd(ws.sample_rate, s.version), content_dim, bool(s.f0), None)
    return [store.load(c) for c in clips]


def _write_references(ws: Any, held: list, folder: Path) -> dict[str, Path]:
    """The held-out clips as the renders see them (cut to whole frames), to score against."""
    from rvclora.sweep.render import write_wavs

    items = _items(ws, held)
    paths = write_wavs(folder, [(it.name, it.wav.numpy()) for it in items], ws.sample_rate)
    return {it.name: p for it, p in zip(items, paths, strict=True)}


def _render_held_out(ws: Any, variant: Variant, output: Path, held: list, folder: Path) -> dict[str, Path]:
    from rvclora.devices import resolve_device
    from rvclora.sweep.render import load_variant, render, write_wavs

    device = resolve_device(ws.settings.device)
    net = load_variant(variant.kind, output, Path(ws.settings.assets.base)).to(device)
    items = _items(ws, held)
    paths = write_wavs(folder, [(it.name, render(net, it, device)) for it in items], ws.sample_rate)
    return {it.name: p for it, p in zip(items, paths, strict=True)}


def _score(ws: Any, references: dict[str, Path], renders: dict[str, Path]) -> dict[str, float | None]:
    """Mean of each ``eval`` metric over the held-out clips (frames matched one to one: same timing)."""
    from rvclora.evaluate.compare import Evaluator
    from rvclora.evaluate.settings import Align, EvalSettings
    from rvclora.evaluate.stats import summarize

    evaluator = Evaluator(EvalSettings(f0_method=ws.f0_method, rmvpe=ws.settings.assets.rmvpe, align=Align.time))
    results = [evaluator.evaluate(references[n], renders[n], name=n) for n in sorted(renders)]
    out: dict[str, float | None] = {}
    for m in METRICS:
        mean = summarize([r.metrics.get(m) for r in results])["mean"]
        out[m] = None if mean is None or not math.isfinite(float(mean)) else float(mean)
    return out
