"""A full disk while merging is one line (exit 2) and leaves no file, for .pth and .safetensors outputs.

The disk is simulated by writers that fail the way the real ones do on ENOSPC (checked against a tiny tmpfs:
torch raises "unexpected pos" with the OSError as its context, safetensors a SafetensorError saying "os error
28"). Set RVCLORA_FULL_FS to a nearly full mount to run the same commands against a real one.
"""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest
import torch
from helpers_assets import one_line, run_cli

from rvclora.errors import DiskFullError
from rvclora.fileio import atomic_torch_save, atomic_write


class _FullAfter(io.RawIOBase):
    """A file that accepts ``room`` bytes, then fails with ENOSPC (what a full file system does)."""

    def __init__(self, fh: io.BufferedWriter, room: int) -> None:
        self.fh, self.room = fh, room

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if len(data) > self.room:
            self.fh.write(bytes(data[: self.room]))
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.fh.write(data)


@pytest.fixture
def full_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    real = torch.save

    def save(obj, f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)):
            with open(f, "wb") as fh:
                return real(obj, _FullAfter(fh, 1000), *args, **kwargs)
        return real(obj, _FullAfter(f, 1000), *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


@pytest.fixture
def full_safetensors(monkeypatch: pytest.MonkeyPatch) -> None:
    import safetensors.torch
    from safetensors import SafetensorError

    def save_file(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\0" * 1000)
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_file", save_file)


def _left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_torch_save_enospc_is_disk_full_with_size(tmp_path: Path, full_torch: None) -> None:
    with pytest.raises(DiskFullError) as info:
        atomic_torch_save({"w": torch.zeros(1_000_000)}, tmp_path / "m.pth")
    assert "no space left on" in info.value.message and "(4 MB needed)" in info.value.message
    assert str(tmp_path / "m.pth") in info.value.message and _left(tmp_path) == []


def test_a_writer_error_on_a_nearly_full_disk_is_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """libsndfile and torch's own writer lose the errno; then free space decides."""
    import shutil

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=0))
    with pytest.raises(DiskFullError), atomic_write(tmp_path / "x.wav") as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("System error.")
    assert _left(tmp_path) == []


def test_other_errors_are_not_called_disk_full(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="a bug"), atomic_write(tmp_path / "x.wav"):
        raise RuntimeError("a bug")
    assert _left(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_merge_to_a_full_disk_is_one_line(
    tmp_path: Path,
    tiny_base: Path,
    tiny_adapter: Path,
    suffix: str,
    full_torch: None,
    full_safetensors: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out" / f"voice{suffix}"
    out.parent.mkdir()
    code, _, err = run_cli(
        capsys,
        "merge",
        "--base",
        str(tiny_base),
        "--lora",
        str(tiny_adapter),
        "--lora",
        str(tiny_adapter),
        "-o",
        str(out),
    )
    assert code == 2
    assert one_line(err).startswith(f"error: no space left on {'/'}") and f"writing {out}" in err
    assert _left(out.parent) == []


@pytest.mark.skipif(not os.environ.get("RVCLORA_FULL_FS"), reason="set RVCLORA_FULL_FS to a nearly full mount")
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_merge_to_a_real_full_disk(
    tiny_base: Path, tiny_adapter: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = Path(os.environ["RVCLORA_FULL_FS"])
    before = _left(folder)
    out = folder / f"sec_voice{suffix}"
    code, _, err = run_cli(
        capsys,
        "merge",
        "--base",
        str(tiny_base),
        "--lora",
        str(tiny_adapter),
        "--lora",
        str(tiny_adapter),
        "-o",
        str(out),
    )
    assert code == 2 and "no space left on" in one_line(err)
    assert _left(folder) == before
