"""``rvclora extract``: content features, pitch and the retrieval index of a workspace's clips."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rvclora.commands._workspace_options import (
    DeviceOpt,
    F0MethodOpt,
    HubertOpt,
    JsonOpt,
    RmvpeOpt,
    UnvoicedF0Opt,
    VersionOpt,
    WorkspaceArg,
    default_note,
    workspace_overrides,
)

if TYPE_CHECKING:
    from rvclora.features.extract import ExtractSummary


class Precision(str, enum.Enum):
    auto = "auto"
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"


def extract_command(
    workspace: WorkspaceArg,
    hubert: HubertOpt = None,
    version: VersionOpt = None,
    f0_method: F0MethodOpt = None,
    rmvpe: RmvpeOpt = None,
    unvoiced_f0: UnvoicedF0Opt = None,
    device: DeviceOpt = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            show_default=False,
            help=f"Clips per content-encoder batch. {default_note('extract.batch_size')}",
        ),
    ] = None,
    build_index: Annotated[
        bool | None,
        typer.Option(
            "--index/--no-index",
            show_default=False,
            help=f"Build the retrieval index. {default_note('extract.build_index')}",
        ),
    ] = None,
    precision: Annotated[
        Precision,
        typer.Option(
            "--precision", case_sensitive=False, help="Model precision: auto = fp16 on CUDA (as RVC), fp32 elsewhere."
        ),
    ] = Precision.auto,
    force: Annotated[bool, typer.Option("--force", help="Redo every clip even if its outputs are up to date.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Extract content features (HuBERT/ContentVec) and pitch of every clip, then build the retrieval index.

    Reads clips/16k/ (run `rvclora preprocess` first); writes features/, f0/, index/ and the silence item
    `mute`. Up-to-date clips are skipped; changing the F0 method or --unvoiced-f0 redoes only pitch.
    See docs/workspace.md.
    """
    from rvclora.console import progress
    from rvclora.features.extract import extract
    from rvclora.workspace import Workspace

    extra: dict[str, Any] = {"extract.batch_size": batch_size, "extract.build_index": build_index}
    overrides = workspace_overrides(
        hubert=hubert,
        version=version,
        f0_method=f0_method,
        rmvpe=rmvpe,
        device=device,
        unvoiced_f0=unvoiced_f0,
        **extra,
    )
    ws = Workspace.open(workspace, create=False, overrides=overrides)
    with progress(transient=True) as bar:
        task = bar.add_task("extract", total=None, status="loading models")

        def started(n: int) -> None:
            bar.update(task, total=n, status="")

        def advanced(n: int, status: str) -> None:
            bar.update(task, advance=n, status=status[:60])

        summary = extract(ws, precision=precision.value, force=force, on_start=started, on_advance=advanced)
    ws.save_settings()  # only now: a failed run leaves rvclora.yaml as it was
    if json_out:
        from rvclora.console import emit_json

        emit_json(summary.to_dict())
        return
    _show_summary(summary)


def _show_summary(s: ExtractSummary) -> None:
    from rvclora.console import show, table

    done = f"{s.clips} ({s.features_done} features, {s.f0_done} pitch extracted; {s.up_to_date} up to date"
    done += f", {s.removed} removed)" if s.removed else ")"
    rows = [
        ("clips", done),
        ("content features", f"{s.version}, {s.feature_dim or '?'}-d, {s.frames} frames ({s.frames / 50:.1f} s)"),
        ("encoder", f"{s.hubert} on {s.device} ({s.precision})"),
    ]
    if s.f0_method is None:
        rows.append(("pitch", "off (no-f0 workspace)"))
    else:
        rows.append(("pitch method", s.f0_method))
        rows.append(
            (
                "unvoiced frames",
                "0 Hz (unvoiced_f0: zero)"
                if s.unvoiced_f0 == "zero"
                else "filled from voiced neighbours (unvoiced_f0: fill)",
            )
        )
        voiced = "-" if s.voiced_fraction is None else f"{100 * s.voiced_fraction:.0f}%"
        rows.append(("voiced frames", f"{voiced} of {s.f0_frames}"))
        if s.f0_min_hz is not None:
            rows.append(("F0 range", f"{s.f0_min_hz:.0f}-{s.f0_max_hz:.0f} Hz"))
    if s.index is not None:
        state = "built" if s.index["rebuilt"] else "up to date"
        rows.append(
            (
                "index",
                f"{s.index['path']} ({s.index['ntotal']} vectors, dim {s.index['dim']}, "
                f"IVF{s.index['n_ivf']}; {state})",
            )
        )
    rows.append(("silence item", str(s.mute)))
    rows.append(("skipped clips", str(len(s.skipped))))
    show(table("extract", ("", ""), rows))
    if s.skipped:
        show(table("skipped", ("clip", "reason"), [(k["clip"], k["reason"]) for k in s.skipped]))


def register(app: typer.Typer) -> None:
    app.command("extract")(extract_command)
