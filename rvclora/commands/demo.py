"""``rvclora demo``: the README's first command — every stage, offline, on a small world built on the spot."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rvclora.demo.runner import DemoProgress
    from rvclora.train.progress import TrainProgress


def demo_command(
    folder: Annotated[
        Path | None,
        typer.Argument(
            help="Folder for the demo world and every output. \\[default: rvclora/demo in your user cache folder, "
            "$XDG_CACHE_HOME or ~/.cache]",
            metavar="DIR",
            show_default=False,
        ),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Reduced form: less audio, 2 training steps (for tests).")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the world (speech, random models) and training.")] = 0,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Delete a previous demo in FOLDER and start over (default: resume it, reusing what is done).",
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print a summary of every step as JSON on stdout.")] = False,
) -> None:
    """Build a small demo world (two synthetic voices, a tiny random RVC base and content encoder) and run preprocess → extract → train → infer → merge → inspect → eval on it, offline, in a few minutes on a CPU.

    Running it again in the same DIR resumes: finished steps are reused, and a step whose input changed is redone (--overwrite starts over).

    The models are random, so the converted audio is not meaningful speech; the closing note shows how to use real RVC assets.
    """
    from rich.markup import escape

    from rvclora.console import emit_json, err, out
    from rvclora.demo.runner import REAL_ASSETS, default_folder, run_demo

    # With --json, stdout carries only the final document: anything a stage writes there goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext():
        summary = run_demo(
            folder or default_folder(), quick=quick, seed=seed, overwrite=overwrite, progress=_display(json_out)
        )
    if json_out:
        emit_json(summary)
        return
    err.print(
        f"[bold green]demo finished in {summary['seconds']:.0f} s[/bold green]: everything is in {summary['dir']} "
        f"(speech: {escape(summary['speech_source'])})"
    )
    out.print(f"\n[bold]Random models: what next[/bold]\n{escape(REAL_ASSETS)}")


def _display(as_json: bool) -> DemoProgress:
    """The demo's progress on stderr: a heading per step, then its summary as a table (on stdout, or on stderr
    with --json), and the train step's progress bar."""
    from rich.markup import escape

    from rvclora.commands._train_progress import TrainDisplay
    from rvclora.console import err, out, table
    from rvclora.demo.runner import STEPS, DemoProgress

    class DemoDisplay(DemoProgress):
        def step_started(self, number: int, name: str) -> None:
            err.print(f"[bold cyan]step {number}/{len(STEPS)}: {name}[/bold cyan]")

        def step_finished(self, name: str, result: dict[str, Any]) -> None:
            rows = _ROWS.get(name, _rows)(result)
            cells = [(escape(k), escape(v)) for k, v in rows]  # values are text, not markup
            view = table(f"{name} ({result['seconds']:.1f} s)", ("", ""), cells)
            (err if as_json else out).print(view)

        def training(self) -> TrainProgress:
            return TrainDisplay(details=False)

    return DemoDisplay()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return f"{len(value)} items" if len(value) > 4 else ", ".join(_fmt(v) for v in value)
    return str(value)


def _rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, _fmt(v)) for k, v in result.items() if k != "seconds" and v not in (None, [], {})]


def _eval_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    from rvclora.evaluate.compare import METRIC_KEYS
    from rvclora.evaluate.report import COLUMNS, fmt

    rows = [(COLUMNS[k][0], fmt(result.get(k), COLUMNS[k][1])) for k in METRIC_KEYS]
    return rows + [("note", n) for n in result.get("notes", [])]


def _inspect_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [(f"{part}.{k}", _fmt(v)) for part in ("adapter", "merged", "base") for k, v in result[part].items()]
    return rows + [("adapter fits base", "yes" if result["adapter_fits_base"] else "NO")]


_ROWS = {"inspect": _inspect_rows, "eval": _eval_rows}  # the other steps: every key of their summary


def register(app: typer.Typer) -> None:
    app.command("demo", help=demo_command.__doc__)(demo_command)
