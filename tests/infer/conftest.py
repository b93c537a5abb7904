"""Fixtures shared by the infer tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory, reference_dir: Path) -> dict[str, Path]:
    """The tiny v2 base, a tiny HuBERT and two adapters of it with non-zero factors ("a" seed 1, "b" seed 2),
    without the workspace the root ``assets`` builds."""
    from helpers_assets import build_adapter, build_tiny_hubert

    root = tmp_path_factory.mktemp("voices")
    base = reference_dir / "v2_40k_f0_tiny.pth"
    return {
        "hubert": build_tiny_hubert(root / "hubert.pt", "v2"),
        "base": base,
        "a": build_adapter(root / "a.safetensors", base, seed=1),
        "b": build_adapter(root / "b.safetensors", base, seed=2),
    }
