"""A test environment with no user settings: no real config folder and no ``$RVCLORA_*`` variables.

tests/conftest.py applies it to every test (fixture ``clean_env``); session- and module-scoped fixtures that
open workspaces call :func:`clean_env` themselves inside ``pytest.MonkeyPatch.context()``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rvclora.workspace.schema import ENV_VARS


def clean_env(mp: pytest.MonkeyPatch, home: Path) -> Path:
    """Point the user config folder below ``home`` and unset every ``$RVCLORA_*`` setting; the config folder."""
    config = home / "xdg"
    mp.setenv("XDG_CONFIG_HOME", str(config))
    for var in ENV_VARS:
        mp.delenv(var, raising=False)
    return config
