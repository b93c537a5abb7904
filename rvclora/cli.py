"""The ``rvclora`` command line: a thin Typer layer.

Each subcommand lives in ``rvclora/commands/<name>.py`` and exposes ``register(app)``; heavy imports
(torch, librosa, faiss) happen inside the command functions, so ``rvclora --help`` never imports torch.
Only commands whose module exists are offered.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Annotated

import typer

from rvclora import __version__
from rvclora.commands._command_class import RvcloraGroup, use_everywhere

# Pipeline order: this is also the order of ``rvclora --help``.
COMMANDS = (
    "demo",
    "preprocess",
    "extract",
    "train",
    "sweep",
    "infer",
    "stream",
    "live",
    "merge",
    "compress",
    "inspect",
    "eval",
    "config",
)

app = typer.Typer(
    name="rvclora",
    cls=RvcloraGroup,
    help="LoRA voice adapters for RVC: train small adapters, convert, blend, bake into RVC models, measure.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rvclora {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for unexpected errors.")] = False,
) -> None:
    _state["debug"] = debug


def _register_commands() -> None:
    for name in COMMANDS:
        module_name = f"rvclora.commands.{name}"
        if importlib.util.find_spec(module_name) is not None:
            importlib.import_module(module_name).register(app)
    use_everywhere(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; user errors become one line on stderr and exit code 2."""
    from rvclora.errors import RvcloraError

    _render_warnings()
    try:
        app(args=argv, prog_name="rvclora")
    except RvcloraError as exc:
        if _state["debug"]:
            raise
        from rvclora.console import err

        hint = f" [dim]({_escape(exc.hint)})[/dim]" if exc.hint else ""
        err.print(f"[bold red]error:[/bold red] {_escape(exc.message)}{hint}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; nothing half-written was kept. Run the same command again to resume.\n")
        sys.exit(130)


def _render_warnings() -> None:
    """Show library warnings meant for users (RvcloraWarning) as one ``warning:`` line, without a source line."""
    import warnings

    from rvclora.errors import RvcloraWarning

    shown = warnings.showwarning
    if getattr(shown, "rvclora", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, RvcloraWarning):
            return shown(message, category, filename, lineno, file, line)
        from rvclora.console import err

        err.print(f"[yellow]warning:[/yellow] {_escape(str(message))}")

    show.rvclora = True  # type: ignore[attr-defined]
    warnings.showwarning = show


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
