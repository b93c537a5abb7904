"""Helpers of the adversarial tests: a clean environment and one-line error checks (the CLI runner: helpers_assets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rvclora.workspace.schema import ENV_VARS


def clean_env(mp: pytest.MonkeyPatch, home: Path) -> None:
    mp.setenv("XDG_CONFIG_HOME", str(home / "xdg"))
    mp.setenv("COLUMNS", "500")  # rich wraps at 80 columns off a terminal; each message is one line
    for var in ENV_VARS:
        mp.delenv(var, raising=False)


def one_line(text: str) -> str:
    """The single non-empty line of ``text`` (fails when there are several, or a traceback)."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]
