"""``rvclora stream`` end to end: output before end of input, broken pipes, one-line errors for bad input."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers_assets import voice_like

from rvclora.cli import main
from rvclora.realtime.pcm import PcmFormat, read_wav_header, wav_header

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def adapter(assets: dict[str, Path]) -> Path:
    return assets["a"]


def _command(adapter: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rvclora", "stream", "--lora", str(adapter), "--device", "cpu", *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.mark.slow
def test_output_arrives_before_stdin_closes(adapter: Path) -> None:
    """A slow writer keeps stdin open; converted audio must come out meanwhile (no waiting for EOF)."""
    fmt = PcmFormat("s16le", 16000)
    audio = np.concatenate([np.zeros(1600, np.float32), voice_like(2.0)])
    proc = subprocess.Popen(
        _command(adapter, "--raw", "--sr", "16000", "--block", "0.1", "--quiet"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    may_close = threading.Event()

    def writer() -> None:
        assert proc.stdin is not None
        for start in range(0, audio.shape[0], 1600):  # 0.1 s every 0.1 s, like a microphone
            proc.stdin.write(fmt.encode(audio[start : start + 1600]))
            proc.stdin.flush()
            time.sleep(0.1)
        may_close.wait(timeout=300)
        proc.stdin.close()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    killer = threading.Timer(300, proc.kill)
    killer.start()
    try:
        assert proc.stdout is not None
        first = proc.stdout.read1(65536)  # type: ignore[attr-defined]
        assert first, proc.stderr.read().decode() if proc.stderr else ""
        assert not may_close.is_set() and thread.is_alive()  # stdin is still open
        may_close.set()
        rest = proc.stdout.read()
        assert proc.wait() == 0
    finally:
        killer.cancel()
    out = fmt.decode(first + rest)
    assert out.shape[0] == audio.shape[0] + 1600  # every input sample, delayed by lookahead + crossfade (0.1 s)
    assert np.abs(out[3200:]).max() > 0.05  # converted voice, not silence


@pytest.mark.slow
def test_broken_pipe_ends_quietly(adapter: Path, tmp_path: Path) -> None:
    raw = tmp_path / "in.raw"
    raw.write_bytes(PcmFormat("s16le", 16000).encode(voice_like(3.0)))
    cmd = " ".join(_command(adapter, "--raw", "--sr", "16000", "--quiet"))
    res = subprocess.run(
        ["bash", "-c", f"cat {raw} | {cmd} | head -c 100 > /dev/null; echo rc=${{PIPESTATUS[1]}}"],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    assert "rc=0" in res.stdout, res.stderr
    assert "Traceback" not in res.stderr and "Error" not in res.stderr, res.stderr


def _run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data: bytes, *args: str
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    try:
        main(["stream", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def _wav_bytes(sr: int, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, voice_like(0.2, sr=sr), sr, format="WAV", subtype=subtype)
    return buf.getvalue()


@pytest.mark.parametrize(
    "case, args, match",
    [
        ("rate", ["--sr", "48000"], "44100 Hz WAV but --sr is 48000"),
        ("raw_with_header", ["--raw", "--sr", "44100"], "WAV header but --raw"),
        ("not_wav", [], "not a WAV stream"),
        ("bits", [], "24-bit"),
        ("raw_without_rate", ["--raw"], "needs its rate"),
        ("odd_rate", ["--raw", "--sr", "22050"], "multiple of 100"),
    ],
)
def test_bad_input_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    adapter: Path,
    case: str,
    args: list[str],
    match: str,
) -> None:
    pcm = b"\x00\x01" * 400
    data = {"not_wav": pcm, "raw_without_rate": pcm, "odd_rate": pcm, "bits": _wav_bytes(44100, "PCM_24")}.get(
        case, _wav_bytes(44100)
    )
    code, err = _run(monkeypatch, capsys, data, "--lora", str(adapter), *args)
    assert code == 2, err
    assert match in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err


def test_wav_header_round_trip() -> None:
    for sample in ("s16le", "f32le"):
        header = wav_header(PcmFormat(sample, 48000))
        stream = io.BytesIO(header + b"\x00" * 8)
        assert read_wav_header(stream) == PcmFormat(sample, 48000)
        assert stream.read() == b"\x00" * 8  # positioned at the samples
    fmt = PcmFormat("s16le", 16000)
    x = np.array([0.0, 0.5, -0.5, 1.0], np.float32)
    np.testing.assert_allclose(fmt.decode(fmt.encode(x)), x, atol=1 / 32767)
