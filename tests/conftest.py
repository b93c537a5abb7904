"""Shared test fixtures: where the reference files are, a clean environment for every test, a tiny voice's assets.

Tests live in one folder per pipeline stage (tests/audio, tests/features, ... tests/cli). Helpers shared by several
tests live here at tests/ (helpers_*.py, models_helpers.py for the zero-noise mode) and are imported as top-level
modules (``from helpers_assets import run_cli``: pyproject's pytest ``pythonpath``); a test never imports another.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from helpers_env import clean_env as _clean_env

REPO = Path(__file__).resolve().parents[1]

# Tests use tiny models: one thread each avoids oversubscribing small CI machines (2 cores), which otherwise
# slows the suite ~10x. Subprocesses inherit the environment variables.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# Exported ONNX decoders (rvclora.infer.backends) are cached per weights under the user cache folder: tests keep
# theirs in one folder per session instead of the user's.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="rvclora-test-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], True)
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


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory, reference_dir: Path) -> dict[str, Path]:
    """One per test module: a tiny HuBERT, a workspace using it (with an index), the tiny v2 and v1 bases, and two
    adapters of the v2 base with non-zero factors: "a" (seed 1, from the workspace) and "b" (seed 2).
    A module that needs other files defines its own ``assets``."""
    from helpers_assets import build_adapter, build_tiny_hubert, build_workspace  # torch: after the thread setting

    root = tmp_path_factory.mktemp("assets")
    hubert = build_tiny_hubert(root / "hubert.pt", "v2")
    base = reference_dir / "v2_40k_f0_tiny.pth"
    ws = build_workspace(root / "voice", hubert)
    return {
        "root": root,
        "hubert": hubert,
        "base": base,
        "ws": ws,
        "a": build_adapter(root / "a.safetensors", base, seed=1, workspace=str(ws)),
        "b": build_adapter(root / "b.safetensors", base, seed=2),
        "v1base": reference_dir / "v1_48k_f0_tiny.pth",
    }
