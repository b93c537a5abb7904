"""``rvclora config``: a workspace's effective settings and where each comes from; store or clear values."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rvclora.commands._workspace_options import JsonOpt


def config_command(
    workspace: Annotated[
        Path,
        typer.Argument(help="Voice workspace folder (with rvclora.yaml).", show_default=False, metavar="WORKSPACE"),
    ],
    set_values: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            show_default=False,
            help="Store a value in rvclora.yaml, checked like the matching command-line option (repeatable), "
            "e.g. --set train.epochs=200.",
        ),
    ] = None,
    unset: Annotated[
        list[str] | None,
        typer.Option(
            "--unset",
            metavar="KEY",
            show_default=False,
            help="Put a stored value back to its default (repeatable), e.g. --unset train.max_steps. For assets the "
            "default is null: the user config or $RVCLORA_* decide again.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a workspace's settings and where each comes from; --set and --unset change rvclora.yaml first.

    Sources: the default, rvclora.yaml, the user config or the environment.

    Keys are dotted names as in docs/workspace.md (sr, f0_method, assets.hubert, train.max_steps ...).
    """
    from rvclora.errors import ConfigError
    from rvclora.workspace import Workspace
    from rvclora.workspace.settings import check_value, parse_text

    overrides: dict[str, Any] = {}
    for item in set_values or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item}: expected KEY=VALUE", "e.g. --set train.epochs=200")
        overrides[key] = check_value(key, parse_text(key, text.strip()), f"--set {key}")
    both = sorted(set(overrides) & set(unset or []))
    if both:
        raise ConfigError(f"'{both[0]}' is both set and unset", "give it to --set or to --unset, not both")
    ws = Workspace.open(workspace, create=False, overrides=overrides, unset=unset or [])
    changed = ws.save_settings()
    if changed:
        ws = Workspace.open(workspace, create=False)  # show where each value comes from now
    rows = [(name, _show(ws.settings.get(name)), _origin(ws, name)) for name in _names()]
    if json_out:
        from rvclora.console import emit_json

        emit_json(
            {
                "workspace": str(ws.root),
                "changed": changed,
                "settings": {
                    name: {"value": _plain(ws.settings.get(name)), "from": origin} for name, _, origin in rows
                },
            }
        )
        return
    from rvclora.console import err, show, table

    show(table(f"settings of {ws.root}", ("key", "value", "from"), rows))
    if changed:
        err.print(f"updated {ws.config_path}")


def _names() -> list[str]:
    from rvclora.workspace.schema import KEYS

    return list(KEYS)


def _origin(ws: Any, name: str) -> str:
    """``rvclora.yaml line 12`` rather than the file's full path (the table's title names the workspace)."""
    return ws.origin(name).replace(str(ws.config_path), "rvclora.yaml")


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def _show(value: Any) -> str:
    """As it would be written in rvclora.yaml: null, true/false, lists comma-separated."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def register(app: typer.Typer) -> None:
    app.command("config", help=config_command.__doc__)(config_command)
