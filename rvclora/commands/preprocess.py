"""``rvclora preprocess``: cut a workspace's source recordings into training clips."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from rvclora.commands._workspace_options import (
    InputOpt,
    JsonOpt,
    SrOpt,
    WorkspaceArg,
    default_note,
    workspace_overrides,
)

if TYPE_CHECKING:
    from rvclora.audio.preprocess import PreprocessSummary


def preprocess_command(
    workspace: WorkspaceArg,
    input: InputOpt = None,
    sr: SrOpt = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=0,
            show_default=False,
            help=f"Parallel processes; 0 = one per core, 1 = in-process. {default_note('preprocess.workers')}",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Redo every file even if its clips are up to date.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Cut recordings at silences into short training clips (RVC's preprocessing), incrementally.

    Reads WORKSPACE/raw/ (or --input): files directly in it are speaker `speaker_id`, each subfolder is one speaker (0, 1, ... by sorted name).

    Writes clips/<sr>/ and clips/16k/. Up-to-date files are skipped; bad files are reported and skipped. See docs/workspace.md.
    """
    from rvclora.audio.preprocess import SourceResult, preprocess_workspace
    from rvclora.console import progress
    from rvclora.workspace import Workspace

    extra: dict[str, Any] = {"preprocess.workers": workers}
    ws = Workspace.open(workspace, overrides=workspace_overrides(input=input, sr=sr, **extra))
    with progress(transient=True) as bar:
        task = bar.add_task("preprocess", total=None, status="")

        def started(n: int) -> None:
            bar.update(task, total=n)

        def finished(result: SourceResult) -> None:
            status = f"skipped {result.key}" if result.skipped else f"{result.key}: {result.clips} clips"
            bar.update(task, advance=1, status=status[:60])

        summary = preprocess_workspace(ws, force=force, on_start=started, on_result=finished)
    ws.save_settings()  # only now: a failed run leaves rvclora.yaml (and a new folder) as they were
    if json_out:
        from rvclora.console import emit_json

        emit_json(summary.to_dict())
        return
    _show_summary(summary)


def _show_summary(summary: PreprocessSummary) -> None:
    from rvclora.console import show, table

    rows = [
        (
            "files",
            f"{summary.files} ({summary.processed} processed, {summary.up_to_date} up to date"
            + (f", {summary.removed} removed" if summary.removed else "")
            + ")",
        ),
        ("speakers", ", ".join(f"{name}={sid}" for name, sid in sorted(summary.speakers.items(), key=lambda x: x[1]))),
        ("input duration", _duration(summary.input_s)),
        ("clips", str(summary.clips)),
        ("kept duration", _duration(summary.kept_s)),
        ("clips folder", summary.clips_dir),
        ("skipped files", str(len(summary.skipped))),
    ]
    show(table("preprocess", ("", ""), rows))
    if summary.skipped:
        show(table("skipped", ("file", "reason"), [(s["file"], s["reason"]) for s in summary.skipped]))


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def register(app: typer.Typer) -> None:
    app.command("preprocess")(preprocess_command)
