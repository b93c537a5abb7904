"""``rvclora infer`` end to end: shell pipes, folders, --json, and one-line errors with no partial output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers_assets import cli_exit_code, voice_like


@pytest.fixture(scope="module")
def setup(assets: dict[str, Path]) -> dict[str, Path]:
    """The shared assets, adapter "a" as the voice, and a short input file."""
    wav = assets["root"] / "in.wav"
    sf.write(wav, voice_like(0.5), 16000)
    return {**assets, "adapter": assets["a"], "wav": wav}


@pytest.mark.slow
def test_stdin_stdout_shell_pipeline(setup: dict[str, Path]) -> None:
    out = setup["root"] / "piped.wav"
    cmd = (
        f"cat {setup['wav']} | {sys.executable} -m rvclora infer - --lora {setup['adapter']} --device cpu -o - > {out}"
    )
    res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    audio, sr = sf.read(out)
    assert sr == 40000 and abs(len(audio) - 0.5 * 40000) <= 400
    assert "converted" in res.stderr  # the summary goes to stderr, stdout carries only audio


@pytest.mark.slow
def test_folder_mode_skips_existing_and_json(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    src = setup["root"] / "songs"
    (src / "sub").mkdir(parents=True)
    sf.write(src / "a.wav", voice_like(0.4, seed=1), 16000)
    sf.write(src / "sub" / "b.flac", voice_like(0.4, seed=2), 22050)
    dest = setup["root"] / "out"
    (dest).mkdir()
    (dest / "a_v.wav").write_bytes(b"keep me")
    code = cli_exit_code(
        "infer",
        str(src),
        "--recursive",
        "--lora",
        str(setup["adapter"]),
        "--device",
        "cpu",
        "-o",
        str(dest),
        "--suffix",
        "_v",
        "--json",
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    status = {r["input"]: r["status"] for r in rows}
    assert status == {"a.wav": "skipped (exists)", str(Path("sub/b.flac")): "converted"}
    assert (dest / "a_v.wav").read_bytes() == b"keep me"
    info = sf.info(dest / "sub" / "b_v.flac")
    assert info.samplerate == 40000 and info.format == "FLAC"
    done = next(r for r in rows if r["status"] == "converted")
    assert done["f0_method"] == "dio" and done["index"].startswith("added_") and done["rtf"] > 0


def _expect_error(capsys: pytest.CaptureFixture[str], *args: str, match: str) -> None:
    code = cli_exit_code("infer", *args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert match in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err


@pytest.mark.parametrize("kind", ["missing", "corrupt", "empty", "silent"])
def test_bad_input_files(setup: dict[str, Path], capsys: pytest.CaptureFixture[str], kind: str) -> None:
    root = setup["root"]
    bad = root / f"{kind}.wav"
    if kind == "corrupt":
        bad.write_bytes(b"RIFF\x00\x00not really audio")
    elif kind == "empty":
        sf.write(bad, np.zeros(0, np.float32), 16000)
    elif kind == "silent":
        sf.write(bad, np.zeros(8000, np.float32), 16000)
    out = root / f"{kind}_out.wav"
    words = {"missing": "not found", "corrupt": "cannot decode", "empty": "empty", "silent": "silent"}
    _expect_error(
        capsys, str(bad), "--lora", str(setup["adapter"]), "--device", "cpu", "-o", str(out), match=words[kind]
    )
    assert not out.exists() and not [p for p in root.iterdir() if p.name.startswith(f".{out.name}")]


@pytest.mark.slow
def test_bad_setups(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    root, wav, adapter = setup["root"], str(setup["wav"]), str(setup["adapter"])
    out = root / "never.wav"
    _expect_error(capsys, wav, "--lora", adapter, "-o", str(root / "x.mp4"), match="unsupported output format")
    _expect_error(
        capsys,
        wav,
        "--lora",
        adapter,
        "--base",
        str(setup["v1base"]),
        "--device",
        "cpu",
        "-o",
        str(out),
        match="another base",
    )
    from rvclora.features.index import build_index

    v1_index = root / "v1.index"
    build_index(np.random.default_rng(0).standard_normal((400, 256)).astype(np.float32), v1_index)
    _expect_error(
        capsys, wav, "--lora", adapter, "--index", str(v1_index), "--device", "cpu", "-o", str(out), match="256"
    )
    assert not out.exists()


def test_refuses_terminal_stdout(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    _expect_error(capsys, str(setup["wav"]), "--lora", str(setup["adapter"]), "-o", "-", match="terminal")


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_refuses_real_terminal_stdout(setup: dict[str, Path]) -> None:
    master, slave = os.openpty()
    try:
        res = subprocess.run(
            [sys.executable, "-m", "rvclora", "infer", str(setup["wav"]), "--lora", str(setup["adapter"]), "-o", "-"],
            stdout=slave,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(slave)
        os.close(master)
    assert res.returncode == 2 and "terminal" in res.stderr
