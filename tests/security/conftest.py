"""Fixtures of the adversarial tests: a clean environment, a tiny preprocessed workspace, a tiny base and adapter."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers_assets import preprocessed_workspace, voice_like

SR = 32000


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich wraps at 80 columns off a terminal; each message must come out as one line."""
    monkeypatch.setenv("COLUMNS", "500")


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory, reference_dir: Path) -> Iterator[Path]:
    """One preprocessed 32k workspace (two sources) with the tiny reference HuBERT configured."""
    root = tmp_path_factory.mktemp("sec_template") / "voice"
    gap = np.zeros(SR // 2, dtype=np.float32)
    recordings = {
        "a": np.concatenate([gap, voice_like(2.5, SR, 150.0), gap]),
        "b": np.concatenate([voice_like(2.0, SR, 220.0, seed=1), gap]),
    }
    settings = {
        "sr": "32k",
        "extract.build_index": False,
        "assets.hubert": str(reference_dir / "hubert_tiny_fairseq.pt"),
    }
    assert preprocessed_workspace(root, recordings, SR, settings) >= 2
    yield root


@pytest.fixture
def workspace(_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the preprocessed workspace for one test."""
    dest = tmp_path / "voice"
    shutil.copytree(_template, dest, symlinks=True)
    return dest


BASE = "v2_40k_f0_tiny"


@pytest.fixture(scope="session")
def tiny_base(reference_dir: Path) -> Path:
    """A tiny RVC generator (upstream layout) from the reference fixtures."""
    return reference_dir / f"{BASE}.G.pth"


@pytest.fixture(scope="session")
def tiny_adapter(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rank-2 adapter for :func:`tiny_base` with both factors non-zero."""
    from helpers_assets import build_adapter

    return build_adapter(tmp_path_factory.mktemp("sec_adapter") / "a.safetensors", tiny_base, seed=1, rank=2)
