"""Shared test fixtures: where the reference files are (zero-noise mode: tests/models_helpers.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers_env import clean_env as _clean_env

REPO = Path(__file__).resolve().parents[1]

# Tests use tiny models: one thread each avoids oversubscribing small CI machines (2 cores), which otherwise
# slows the suite ~10x. Subprocesses inherit the environment variables.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a hard dependency
    pass


def _find_reference() -> Path | None:
    candidates = [
        os.environ.get("RVCLORA_REFERENCE", ""),
        REPO / "shared/fixtures/reference",
        REPO.parent / "shared/fixtures/reference",
    ]
    for c in candidates:
        if c and (Path(c) / "index.json").is_file():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The upstream reference fixtures (../shared/fixtures/reference). Missing fixtures fail, never skip."""
    found = _find_reference()
    if found is None:
        pytest.fail("reference fixtures not found: expected ../shared/fixtures/reference or $RVCLORA_REFERENCE")
    return found


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No real user config or $RVCLORA_* leaks into a test; the test's user config folder (tmp_path/xdg)."""
    return _clean_env(monkeypatch, tmp_path)
