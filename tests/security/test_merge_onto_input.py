"""merge refuses an output that is one of its inputs (same path, a link to it, a hard link), --overwrite or not."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from helpers_assets import one_line, run_cli

from rvclora.errors import OutputError
from rvclora.merge.stage import merge_to_model


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def base(tiny_base: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(tiny_base, tmp_path / "b.pth"))


@pytest.mark.parametrize("how", ["same path", "relative spelling", "symlink", "hard link"])
def test_output_onto_the_base_is_refused(
    base: Path,
    tiny_adapter: Path,
    tmp_path: Path,
    how: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _digest(base)
    if how == "same path":
        out = base
    elif how == "relative spelling":
        monkeypatch.chdir(tmp_path)
        (tmp_path / "sub").mkdir()
        out = Path("sub/../b.pth")
    elif how == "symlink":
        out = tmp_path / "link.pth"
        out.symlink_to(base)
    else:
        out = tmp_path / "hard.pth"
        os.link(base, out)
    code, _, err = run_cli(
        capsys, "merge", "--base", str(base), "--lora", str(tiny_adapter), "-o", str(out), "--overwrite"
    )
    assert code == 2 and "is the base model" in one_line(err)
    assert _digest(base) == before


def test_output_onto_an_adapter_is_refused(
    base: Path, tiny_adapter: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    adapter = Path(shutil.copy(tiny_adapter, tmp_path / "a.safetensors"))
    before = _digest(adapter)
    code, _, err = run_cli(
        capsys,
        "merge",
        "--base",
        str(base),
        "--lora",
        str(adapter),
        "--lora",
        str(adapter),
        "-o",
        str(adapter),
        "--overwrite",
    )
    assert code == 2 and "is the adapter" in one_line(err)
    assert _digest(adapter) == before


def test_the_library_refuses_too(base: Path, tiny_adapter: Path) -> None:
    with pytest.raises(OutputError, match="base model"):
        merge_to_model(base, [tiny_adapter], [1.0], base)
