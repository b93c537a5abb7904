"""Outputs get the umask's mode (not mkstemp's 0600), and an output that is a symbolic link is refused."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_assets import one_line, run_cli

from rvclora.errors import OutputError
from rvclora.fileio import atomic_torch_save, atomic_write


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _wav(p: Path) -> Path:
    from rvclora.audio.io import save_audio

    save_audio(p / "a.wav", np.zeros(160, dtype=np.float32), 16000)
    return p / "a.wav"


def _pth(p: Path) -> Path:
    atomic_torch_save({"w": torch.ones(3)}, p / "a.pth")
    return p / "a.pth"


def _safetensors(p: Path) -> Path:
    from rvclora.lora.adapter import write_adapter
    from rvclora.lora.config import LoRAConfig
    from rvclora.lora.meta import AdapterMeta

    meta = AdapterMeta(config=LoRAConfig(), scale=1.0, layers={})
    return write_adapter(p / "a.safetensors", {"x.lora_A": torch.ones(2, 2)}, meta)


def _yaml(p: Path) -> Path:
    from rvclora.workspace import Workspace

    ws = Workspace.open(p / "ws")
    ws.save_settings()
    return ws.config_path


WRITERS: dict[str, Callable[[Path], Path]] = {
    "wav": _wav,
    "pth": _pth,
    "safetensors": _safetensors,
    "rvclora.yaml": _yaml,
}


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
@pytest.mark.parametrize("writer", WRITERS.values(), ids=WRITERS.keys())
def test_new_files_get_the_umask_mode(tmp_path: Path, writer: Callable[[Path], Path], mask: int, mode: int) -> None:
    with umask(mask):
        path = writer(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    path = _pth(tmp_path)
    path.chmod(0o640)
    with umask(0o022):
        _pth(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_an_output_that_is_a_link_is_refused_and_its_target_kept(tmp_path: Path) -> None:
    target = tmp_path / "bashrc"
    target.write_text("precious")
    link = tmp_path / "adapter.safetensors"
    link.symlink_to(target)
    with pytest.raises(OutputError, match="symbolic link"), atomic_write(link) as tmp:
        tmp.write_text("overwritten")
    assert link.is_symlink() and target.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter.safetensors", "bashrc"]


def test_merge_onto_a_link_is_one_line(
    tmp_path: Path, tiny_base: Path, tiny_adapter: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "elsewhere.pth"
    target.write_text("precious")
    (tmp_path / "voice.pth").symlink_to(target)
    code, _, err = run_cli(
        capsys,
        "merge",
        "--base",
        str(tiny_base),
        "--lora",
        str(tiny_adapter),
        "-o",
        str(tmp_path / "voice.pth"),
        "--overwrite",
    )
    assert code == 2 and "symbolic link" in one_line(err)
    assert target.read_text() == "precious"
