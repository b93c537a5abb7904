"""Helpers of the adversarial tests: a clean environment, the CLI run in-process, one-line error checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from rvclora.workspace.schema import ENV_VARS


def clean_env(mp: pytest.MonkeyPatch, home: Path) -> None:
    mp.setenv("XDG_CONFIG_HOME", str(home / "xdg"))
    mp.setenv("COLUMNS", "500")  # rich wraps at 80 columns off a terminal; each message is one line
    for var in ENV_VARS:
        mp.delenv(var, raising=False)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``rvclora ARGS`` in-process: (exit code, stdout, stderr)."""
    from rvclora.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(text: str) -> str:
    """The single non-empty line of ``text`` (fails when there are several, or a traceback)."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]
