"""``rvclora infer`` edge cases: full disks and stdout, device outputs, formats, fail-fast checks, moved workspaces."""

from __future__ import annotations

import errno
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers_assets import build_adapter, build_workspace, cli_exit_code, voice_like


@pytest.fixture(scope="module")
def setup(assets: dict[str, Path]) -> dict[str, Path]:
    """The shared assets, adapter "a" as the voice, and a short input file."""
    wav = assets["root"] / "in.wav"
    sf.write(wav, voice_like(0.4), 16000)
    return {**assets, "adapter": assets["a"], "wav": wav}


def _one_line_error(capsys: pytest.CaptureFixture[str], *args: str, match: str) -> str:
    code = cli_exit_code("infer", *args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert match in err and "Traceback" not in err, err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err
    return err


# --- full disks ------------------------------------------------------------------------------------------------
class _FullAfter:
    """A raw file whose writes fail with ENOSPC once ``room`` bytes are written (a disk filling up)."""

    def __init__(self, path: str, mode: str, buffering: int = -1, room: int = 4096) -> None:
        self._fh = io.FileIO(path, mode.replace("b", ""))
        self.room = room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self._fh.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self._fh, name)

    def __enter__(self) -> _FullAfter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


def test_a_writer_hitting_enospc_says_disk_full_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rvclora.audio.io as audio_io
    from rvclora.errors import DiskFullError

    monkeypatch.setattr(audio_io, "open", _FullAfter, raising=False)
    dest = tmp_path / "out.wav"
    with pytest.raises(DiskFullError, match=r"no space left on .* while writing .*out\.wav \(1 MB needed\)"):
        audio_io.write_audio_blocks(dest, iter([np.zeros(300_000, np.float32)] * 2), 40000, 600_000)
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file


def test_stdout_hitting_enospc_says_disk_full(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import rvclora.audio.io as audio_io
    from rvclora.errors import DiskFullError

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(audio_io.os, "write", full)
    monkeypatch.setattr(sys, "stdout", open(tmp_path / "stdout.bin", "w"))  # a real descriptor
    with pytest.raises(DiskFullError, match="no space left on"):
        audio_io.write_audio_blocks(None, [np.zeros(1000, np.float32)], 40000, 1000)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_dev_full_is_a_file_target_and_full(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line_error(
        capsys,
        str(setup["wav"]),
        "--lora",
        str(setup["adapter"]),
        "--device",
        "cpu",
        "-o",
        "/dev/full",
        match="no space left on /dev while writing /dev/full",
    )
    assert "/dev/full/in.wav" not in err


@pytest.mark.slow
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_stdout_into_dev_full_is_one_line(setup: dict[str, Path]) -> None:
    cmd = f"{sys.executable} -m rvclora infer {setup['wav']} --lora {setup['adapter']} --device cpu -o - > /dev/full"
    res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and "│" not in ln and "─" not in ln]
    assert "no space left on" in res.stderr and "Errno" not in res.stderr and "Traceback" not in res.stderr
    assert len(lines) == 1, res.stderr


# --- formats ---------------------------------------------------------------------------------------------------
def test_unwritable_format_is_refused_with_the_list(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    err = _one_line_error(
        capsys,
        str(setup["wav"]),
        "--lora",
        str(setup["adapter"]),
        "-o",
        str(tmp_path / "x.m4a"),
        match="unsupported output format .m4a",
    )
    assert ".wav" in err and ".flac" in err


@pytest.mark.slow
@pytest.mark.skipif("MP3" not in sf.available_formats(), reason="this libsndfile cannot write MP3")
def test_mp3_output_at_an_mpeg_rate(setup: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "x.mp3"
    assert (
        cli_exit_code(
            "infer",
            str(setup["wav"]),
            "--lora",
            str(setup["adapter"]),
            "--device",
            "cpu",
            "--seed",
            "3",
            "-o",
            str(out),
        )
        == 0
    )
    info = sf.info(out)
    assert info.format == "MP3" and info.samplerate == 44100  # the 40 kHz model output, resampled for MPEG


# --- fail fast -------------------------------------------------------------------------------------------------
@pytest.fixture
def no_models(monkeypatch: pytest.MonkeyPatch) -> None:
    from rvclora.infer.converter import Converter

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr(Converter, "__init__", refuse)


@pytest.mark.parametrize("case", ["empty stdin", "silent", "bad f0 file", "missing f0 file", "bad option"])
def test_inputs_are_checked_before_any_model_loads(
    setup: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    no_models: None,
    case: str,
) -> None:
    args = [str(setup["wav"]), "--lora", str(setup["adapter"]), "-o", str(tmp_path / "out.wav")]
    match = {
        "empty stdin": "no audio data",
        "silent": "silent",
        "bad f0 file": "line 2",
        "missing f0 file": "F0 file not found",
        "bad option": "--protect",
    }[case]
    if case == "empty stdin":
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
        args[0] = "-"
    elif case == "silent":
        sf.write(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
        args[0] = str(tmp_path / "silent.wav")
    elif case == "bad f0 file":
        (tmp_path / "f0.csv").write_text("0.0,100\nnot,a number\n")
        args += ["--f0-file", str(tmp_path / "f0.csv")]
    elif case == "missing f0 file":
        args += ["--f0-file", str(tmp_path / "nope.csv")]
    else:
        args += ["--protect", "0.9"]
    _one_line_error(capsys, *args, match=match)
    assert not (tmp_path / "out.wav").exists()


# --- moved and shared workspaces -------------------------------------------------------------------------------
@pytest.mark.slow
def test_moved_workspace_keeps_its_index_and_adapters_store_no_local_paths(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    from rvclora.infer.converter import Converter
    from rvclora.lora.adapter import read_adapter, save_lora
    from rvclora.lora.config import LoRAConfig
    from rvclora.lora.inject import add_lora
    from rvclora.models.checkpoint import load_synthesizer
    from rvclora.workspace import Workspace

    ws = build_workspace(tmp_path / "alice", setup["hubert"])
    Workspace.open(ws, create=False, overrides={"assets.base": str(setup["base"])}).save_settings()
    model = load_synthesizer(setup["base"])
    add_lora(model, LoRAConfig(rank=2, alpha=2.0))
    adapter = save_lora(
        model, ws / "adapters" / "alice.safetensors", base=str(setup["base"]), workspace=str(ws.absolute())
    )
    info = read_adapter(adapter)[1].info
    assert not [v for v in info.values() if isinstance(v, str) and v.startswith("/")], info
    assert info["base_name"] == setup["base"].name
    shutil.move(str(ws), str(tmp_path / "alice2"))
    conv = Converter(lora=tmp_path / "alice2" / "adapters" / "alice.safetensors", device="cpu")
    assert conv.voices[0].index_path is not None and "alice2" in conv.voices[0].index_path
    assert conv.warnings == []


@pytest.mark.slow
def test_lost_recorded_workspace_is_warned_about(
    setup: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = tmp_path / "gone"
    build_workspace(gone, setup["hubert"])
    adapter = build_adapter(tmp_path / "old.safetensors", setup["base"], seed=1, workspace=str(gone))
    shutil.rmtree(gone)
    out = tmp_path / "out.wav"
    code = cli_exit_code(
        "infer",
        str(setup["wav"]),
        "--lora",
        str(adapter),
        "--hubert",
        str(setup["hubert"]),
        "--device",
        "cpu",
        "-o",
        str(out),
        "--json",
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    row = json.loads(captured.out)[0]
    assert row["index"] is None and "no longer exists" in row["warnings"][0]
    assert "warning:" in captured.err and str(gone) in captured.err
