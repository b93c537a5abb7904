"""``rvclora demo``: the README's first command — every stage, offline, on a small world built on the spot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


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
    from rvclora.demo.runner import default_folder, run_demo

    run_demo(folder or default_folder(), quick=quick, seed=seed, overwrite=overwrite, as_json=json_out)


def register(app: typer.Typer) -> None:
    app.command("demo", help=demo_command.__doc__)(demo_command)
