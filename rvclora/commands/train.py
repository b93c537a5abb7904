"""``rvclora train``: from a workspace (raw audio or extracted features) to a finished LoRA adapter."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rvclora.commands._workspace_options import (
    BaseDOpt,
    BaseOpt,
    DeviceOpt,
    F0MethodOpt,
    HubertOpt,
    InputOpt,
    JsonOpt,
    RmvpeOpt,
    SrOpt,
    VersionOpt,
    WorkspaceArg,
    default_note,
    workspace_overrides,
)
from rvclora.workspace.schema import FULL_LR, LORA_LR

if TYPE_CHECKING:
    from rvclora.train.plan import Estimate, TrainPlan


def _opt(flag: str, key: str, text: str, **kw: Any) -> Any:
    return typer.Option(flag, help=f"{text} {default_note(key)}", show_default=False, **kw)


def train_command(
    workspace: WorkspaceArg,
    rank: Annotated[int | None, _opt("--rank", "lora.rank", "LoRA rank.", min=1)] = None,
    alpha: Annotated[float | None, _opt("--alpha", "lora.alpha", "LoRA alpha (scale = alpha / rank).")] = None,
    targets: Annotated[str | None, _opt("--targets", "lora.targets", "Target preset or module pattern.")] = None,
    epochs: Annotated[int | None, _opt("--epochs", "train.epochs", "Passes over the clips.", min=1)] = None,
    max_steps: Annotated[
        int | None,
        _opt("--max-steps", "train.max_steps", "Stop after N steps (0 = no limit: clears a stored value).", min=0),
    ] = None,
    batch_size: Annotated[
        int | None, _opt("--batch-size", "train.batch_size", "Clips per step (per GPU).", min=1)
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            "--lr",
            show_default=False,
            help=f"Learning rate. \\[workspace default: {LORA_LR:g}, or {FULL_LR:g} (RVC's) with --full]",
        ),
    ] = None,
    seed: Annotated[int | None, _opt("--seed", "train.seed", "Random seed.")] = None,
    save_every: Annotated[int | None, _opt("--save-every", "train.save_every", "Save every N epochs.", min=1)] = None,
    keep: Annotated[int | None, _opt("--keep", "train.keep", "Checkpoints/adapters kept.", min=1)] = None,
    val_fraction: Annotated[
        float | None, _opt("--val-fraction", "train.val_fraction", "Share of clips held out.")
    ] = None,
    patience: Annotated[
        int | None,
        _opt(
            "--early-stopping",
            "train.early_stopping_patience",
            "Stop after N epochs without validation gain (0 = off).",
        ),
    ] = None,
    precision: Annotated[str | None, _opt("--precision", "train.precision", "auto, fp32, bf16 or fp16.")] = None,
    lora_plus_ratio: Annotated[
        float | None, _opt("--lora-plus-ratio", "train.lora_plus_ratio", "LoRA+: lr of B = ratio x lr.")
    ] = None,
    cache: Annotated[
        bool | None,
        _opt("--cache/--no-cache", "train.cache", "Keep clips on the training device (GPU) after their first load."),
    ] = None,
    full: Annotated[
        bool | None, _opt("--full/--lora", "train.full", "Train the whole generator (writes an RVC model).")
    ] = None,
    restart: Annotated[bool, typer.Option("--restart", help="Start over instead of resuming.")] = False,
    input: InputOpt = None,
    sr: SrOpt = None,
    version: VersionOpt = None,
    base: BaseOpt = None,
    base_d: BaseDOpt = None,
    hubert: HubertOpt = None,
    rmvpe: RmvpeOpt = None,
    f0_method: F0MethodOpt = None,
    device: DeviceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Train a LoRA voice adapter with RVC's full GAN recipe; resumes automatically.

    Runs preprocess and extract first (incremental: only missing or stale clips are redone).
    Writes adapters/<workspace>.safetensors, checkpoints/ and logs/ (TensorBoard, train.jsonl). Multi-GPU:
    torchrun --nproc-per-node N -m rvclora train WORKSPACE. See docs/training.md.
    """
    from rvclora.console import err
    from rvclora.train.interrupt import TrainingInterrupted
    from rvclora.train.workflow import train_workspace

    unset = ["train.max_steps"] if max_steps == 0 else []
    overrides = workspace_overrides(
        input=input,
        sr=sr,
        version=version,
        base=base,
        base_d=base_d,
        hubert=hubert,
        rmvpe=rmvpe,
        f0_method=f0_method,
        device=device,
        **{
            "lora.rank": rank,
            "lora.alpha": alpha,
            "lora.targets": targets,
            "train.epochs": epochs,
            "train.max_steps": max_steps or None,
            "train.batch_size": batch_size,
            "train.lr": lr,
            "train.seed": seed,
            "train.save_every": save_every,
            "train.keep": keep,
            "train.val_fraction": val_fraction,
            "train.early_stopping_patience": patience,
            "train.precision": precision,
            "train.lora_plus_ratio": lora_plus_ratio,
            "train.cache": cache,
            "train.full": full,
        },
    )
    try:
        result = train_workspace(
            Path(workspace), overrides, restart=restart, unset=unset, on_plan=_show_plan, on_estimate=_show_estimate
        )
    except TrainingInterrupted as exc:
        err.print(f"[yellow]{exc.message()}[/yellow]")
        raise typer.Exit(130) from None
    if result is None:  # a non-zero DDP rank: rank 0 reports
        return
    summary = result.summary()
    if json_out:
        from rvclora.console import emit_json

        emit_json(summary)
        return
    _show(result, summary)


def _show_plan(plan: TrainPlan) -> None:
    """Before the first step (on stderr): how many steps, on how much audio, and any warning."""
    from rich.markup import escape

    from rvclora.console import err
    from rvclora.train.plan import format_duration

    resumed = f", {plan.steps_done} done before" if plan.steps_done else ""
    if plan.steps_left:
        epochs = f"{plan.epochs} epoch{'s' if plan.epochs != 1 else ''}"
        err.print(
            f"training {plan.steps_left} steps ({plan.steps_total} in all{resumed}; {plan.steps_per_epoch} "
            f"per epoch, {epochs} at most) on {format_duration(plan.audio_s)} of audio"
        )
    for warning in plan.warnings:
        err.print(f"[yellow]warning: {escape(warning)}[/yellow]")


def _show_estimate(estimate: Estimate) -> None:
    from rvclora.console import err
    from rvclora.train.plan import format_duration

    err.print(
        f"estimated time left: about {format_duration(estimate.seconds)} ({estimate.seconds_per_step:.2f} s per "
        f"step over {estimate.timed_steps} timed steps; validation and checkpoints add to it)"
    )


def _show(result: Any, summary: dict[str, Any]) -> None:
    from rvclora.console import show, table

    cols = ("epoch", "steps", "loss_g", "loss_d", "mel", "kl", "fm", "val_mel", "lr", "s")
    rows = [
        (
            h["epoch"],
            h["steps"],
            _f(h.get("loss_g")),
            _f(h.get("loss_d")),
            _f(h.get("loss_mel")),
            _f(h.get("loss_kl")),
            _f(h.get("loss_fm")),
            _f(h.get("val_mel")),
            f"{h['lr']:.3g}",
            h["seconds"],
        )
        for h in result.history[-30:]
    ]
    if rows:
        show(table("epochs (last 30)", cols, rows))
    # table() writes the values plainly (no None, no 17-digit floats)
    show(
        table(
            "train",
            ("", ""),
            [(k, v) for k, v in summary.items() if k not in ("history", "warnings") and v is not None],
        )
    )
    from rich.markup import escape

    from rvclora.console import err

    for warning in result.warnings:
        err.print(f"[yellow]warning: {escape(warning)}[/yellow]")


def _f(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
