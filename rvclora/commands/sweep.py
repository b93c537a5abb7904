"""``rvclora sweep``: train every rank/preset variant on the same clips and score them on held-out audio."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rvclora.choices import TargetPreset
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
)
from rvclora.sweep.variants import FULL_LR, SweepOptions

DEFAULTS = SweepOptions()


def _ints(text: str) -> tuple[int, ...]:
    from rvclora.errors import ConfigError

    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--ranks {text!r}: expected comma-separated integers", "e.g. --ranks 4,8,16,32") from None


def sweep_command(
    workspace: WorkspaceArg,
    ranks: Annotated[str, typer.Option("--ranks", help="LoRA ranks to try (comma-separated).")] = ",".join(
        map(str, DEFAULTS.ranks)
    ),
    presets: Annotated[
        str,
        typer.Option(
            "--presets", help=f"Target presets to try (comma-separated; from {', '.join(TargetPreset.values())})."
        ),
    ] = ",".join(DEFAULTS.presets),
    full: Annotated[
        bool,
        typer.Option(
            "--full/--no-full",
            help=f"Also train RVC's full fine-tuning (lr {FULL_LR:g}): the 100 % mark of the gain column.",
        ),
    ] = DEFAULTS.full,
    steps: Annotated[int, typer.Option("--steps", help="Optimizer steps of every variant.", min=1)] = DEFAULTS.steps,
    holdout: Annotated[
        float, typer.Option("--holdout", help="Share of source recordings held out for scoring.")
    ] = DEFAULTS.holdout,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="Seed of the split and of every variant [default: the workspace's train.seed]",
            show_default=False,
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write MCD against bytes as an image (.png/.pdf/.svg). Needs the 'plot' extra."),
    ] = None,
    restart: Annotated[bool, typer.Option("--restart", help="Retrain every variant instead of reusing.")] = False,
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
    """Which rank and preset does this voice need? Train each variant on the same clips, score held-out ones.

    Holds out whole source recordings, trains the embedding-only floor, every preset x rank and full
    fine-tuning with the same steps and seed, renders the held-out clips through each from their own
    features and F0, and scores them with the eval metrics. Variants live in WORKSPACE/sweep/; a finished
    one is reused, an interrupted one resumes. See docs/sweep.md.
    """
    from rvclora.commands._train_progress import TrainDisplay
    from rvclora.sweep.stage import SweepRequest, run_sweep
    from rvclora.workspace.overrides import AssetOverrides, Overrides

    if plot is not None:
        from rvclora.evaluate.plot import check_plot_target

        check_plot_target(plot)
    options = SweepOptions(
        ranks=_ints(ranks),
        presets=tuple(p.strip() for p in presets.split(",") if p.strip()),
        full=full,
        steps=steps,
        holdout=holdout,
        seed=seed,
        restart=restart,
    )
    overrides = Overrides(
        input=input,
        sr=sr,
        version=version,
        assets=AssetOverrides(base=base, base_d=base_d, hubert=hubert, rmvpe=rmvpe),
        f0_method=f0_method,
        device=device,
    )
    summary = run_sweep(
        SweepRequest(workspace, overrides, options), on_variant=_announce, progress=TrainDisplay(details=False)
    )
    if plot is not None:
        from rvclora.sweep.plot import plot_sweep

        plot_sweep(summary, plot)
    if json_out:
        from rvclora.console import emit_json

        emit_json(summary.to_json())
        return
    _show(summary)


def _announce(index: int, total: int, variant: Any, reused: bool) -> None:
    from rvclora.console import err

    err.print(
        f"[bold]variant {index + 1}/{total}: {variant.name}[/bold]" + (" (finished earlier: reused)" if reused else "")
    )


def _show(summary: Any) -> None:
    from rvclora.console import err, human_bytes, show, table

    speaker = any(v.metrics.get("speaker_similarity") is not None for v in summary.variants)
    cols = ["variant", "bytes", "train s", "MCD dB", "F0 RMSE ¢", "spec. conv."]
    cols += ["speaker sim.", "% full gain (MCD)", "% full gain (speaker)"] if speaker else ["% full gain (MCD)"]
    rows = []
    for v in summary.variants:
        m = v.metrics
        row = [
            v.name,
            human_bytes(v.bytes),
            f"{v.train_seconds:.0f}",
            _f(m.get("mcd_db"), 2),
            _f(m.get("f0_rmse_cents"), 1),
            _f(m.get("spectral_convergence"), 3),
        ]
        row += (
            [_f(m.get("speaker_similarity"), 3), _f(v.gain_mcd_pct, 0), _f(v.gain_speaker_pct, 0)]
            if speaker
            else [_f(v.gain_mcd_pct, 0)]
        )
        rows.append(row)
    title = (
        f"sweep: {summary.steps} steps each, {summary.train_clips} training clips, "
        f"{len(summary.held_out_clips)} held-out clips from {len(summary.held_out_sources)} recording(s)"
    )
    show(table(title, cols, rows))
    for note in summary.notes:
        err.print(f"[dim]note: {note}[/dim]")


def _f(value: float | None, digits: int) -> str:
    """Fixed digits; a value that rounds to zero prints without a minus sign."""
    return "" if value is None else f"{round(value, digits) + 0.0:.{digits}f}"


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep_command)
