"""Shared test fixtures: where the reference files are (zero-noise mode: tests/models_helpers.py)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

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
