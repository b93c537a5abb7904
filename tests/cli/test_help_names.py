"""Help uses conventional names, and ``--version`` means one thing: the program's version.

Subcommands take the model version as ``--model-version``; ``--version`` stays a hidden alias there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers_assets import run_cli

from rvclora.errors import ConfigError


@pytest.mark.parametrize(
    "command, usage",
    [
        ("train", "Usage: rvclora train [OPTIONS] WORKSPACE"),
        ("extract", "Usage: rvclora extract [OPTIONS] WORKSPACE"),
        ("eval", "Usage: rvclora eval [OPTIONS] REF CONVERTED"),
        ("compress", "Usage: rvclora compress [OPTIONS] [SOURCE]"),
        ("inspect", "Usage: rvclora inspect [OPTIONS] FILE"),
    ],
)
def test_help_shows_conventional_names(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str, usage: str
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0 and usage in out
    assert "<bool>" not in out and "<path>" not in out and "<int" not in out and "{" not in out.split("\n", 3)[1]
    assert "False" not in out and "True" not in out  # workspace defaults read on/off


def test_top_level_help_has_no_type_on_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "--version" in out and "<bool>" not in out


def test_subcommands_say_model_version_and_hide_the_alias(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    for command in ("train", "extract"):
        _, out, _ = run_cli(capsys, command, "--help")
        assert "--model-version" in out and "[v1|v2]" in out
        assert "--version " not in out.replace("--model-version", "")


@pytest.mark.parametrize("flags", [["--model-version", "v1"], ["--version", "v1"], ["--version=v1"]])
def test_version_alias_still_sets_the_model_version(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str]
) -> None:
    from rvclora.workspace import Workspace

    seen: dict[str, Any] = {}

    def fake_open(cls: Any, folder: Path, **kwargs: Any) -> Any:
        overrides = kwargs.get("overrides")
        seen.update(overrides.settings() if overrides is not None else {})
        raise ConfigError("stop here")

    monkeypatch.setattr(Workspace, "open", classmethod(fake_open))
    code, _, err = run_cli(capsys, "extract", str(tmp_path / "ws"), *flags)
    assert code == 2 and "stop here" in err
    assert seen.get("version") == "v1"


def test_top_level_version_is_the_program_version(capsys: pytest.CaptureFixture[str]) -> None:
    from rvclora import __version__

    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"rvclora {__version__}"


def test_one_typer_style_and_one_naming_rule() -> None:
    """Every command is ``rvclora.commands.<name>.<name>_command`` and declares its options with ``Annotated``
    (no ``= typer.Option(...)`` defaults), so the Python defaults are the real ones."""
    import importlib
    import inspect

    from typer.models import ParameterInfo

    from rvclora.cli import COMMANDS, _root, app

    registered = {info.name: info.callback for info in app.registered_commands}
    for name in COMMANDS:
        function = getattr(importlib.import_module(f"rvclora.commands.{name}"), f"{name}_command")
        assert registered[name] is function
        for fn in (function, _root):
            for param in inspect.signature(fn).parameters.values():
                assert not isinstance(param.default, ParameterInfo), (fn.__name__, param.name)
