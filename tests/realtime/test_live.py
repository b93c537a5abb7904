"""``rvclora live`` with sounddevice replaced by an in-memory device (same callback API): no sound card needed."""

from __future__ import annotations

import sys
import threading
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers_assets import cli_exit_code, voice_like


class FakeDuplexStream:
    """Plays the microphone signal through ``callback`` a block at a time, in a thread, as PortAudio does."""

    instances: list[FakeDuplexStream] = []

    def __init__(self, samplerate: int, blocksize: int, device: Any, channels: int, dtype: str, callback: Any) -> None:
        self.samplerate, self.blocksize, self.device, self.callback = samplerate, blocksize, device, callback
        self.mic = np.concatenate([np.zeros(samplerate // 10, np.float32), voice_like(1.5, sr=samplerate)])
        self.played: list[np.ndarray] = []
        self.closed = False
        self._thread = threading.Thread(target=self._run)
        FakeDuplexStream.instances.append(self)

    def _run(self) -> None:
        for start in range(0, self.mic.shape[0] - self.blocksize + 1, self.blocksize):
            indata = self.mic[start : start + self.blocksize, None].copy()
            outdata = np.full((self.blocksize, 1), np.nan, np.float32)  # the callback must fill every sample
            self.callback(indata, outdata, self.blocksize, None, None)
            self.played.append(outdata[:, 0].copy())

    def __enter__(self) -> FakeDuplexStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._thread.join()  # sounddevice's stop() waits for the pending buffers too
        self.closed = True


def fake_sounddevice() -> types.ModuleType:
    sd = types.ModuleType("sounddevice")
    sd.Stream = FakeDuplexStream  # type: ignore[attr-defined]
    sd.PortAudioError = RuntimeError  # type: ignore[attr-defined]
    devices = [
        {
            "name": "Built-in Microphone",
            "hostapi": 0,
            "max_input_channels": 2,
            "max_output_channels": 0,
            "default_samplerate": 16000.0,
        },
        {
            "name": "USB Headphones",
            "hostapi": 0,
            "max_input_channels": 0,
            "max_output_channels": 2,
            "default_samplerate": 48000.0,
        },
    ]

    def query_devices(device: Any = None, kind: str | None = None) -> Any:
        if device is None and kind is None:
            return devices
        if device is None:
            return devices[0]
        found = [d for i, d in enumerate(devices) if device == i or (isinstance(device, str) and device in d["name"])]
        if not found:
            raise ValueError(f"No {kind} device matching {device!r}")
        return found[0]

    sd.query_devices = query_devices  # type: ignore[attr-defined]
    sd.query_hostapis = lambda: [{"name": "ALSA"}]  # type: ignore[attr-defined]
    return sd


@pytest.fixture(scope="module")
def adapter(assets: dict[str, Path]) -> Path:
    return assets["a"]


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def test_without_the_extra_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], adapter: Path
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails as if not installed
    assert cli_exit_code("live", "--lora", str(adapter)) == 2
    err = capsys.readouterr().err
    assert "pip install 'rvclora[live]'" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_list_devices(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], adapter: Path) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice())
    assert cli_exit_code("live", "--list-devices") == 0
    out = capsys.readouterr().out
    assert "Built-in Microphone" in out and "USB Headphones" in out and "ALSA" in out


@pytest.mark.slow
def test_live_converts_changes_pitch_toggles_monitor_and_quits(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], adapter: Path
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice())
    FakeDuplexStream.instances.clear()
    _stdin(monkeypatch, "+\npitch 5\nvoice /nowhere/missing.safetensors\ns\nm\nq\n")
    code = cli_exit_code(
        "live", "--lora", str(adapter), "--input", "Micro", "--output", "1", "--device", "cpu", "--block", "0.1"
    )
    err = capsys.readouterr().err
    assert code == 0, err
    device = FakeDuplexStream.instances[-1]
    assert device.closed and device.device == ("Micro", 1) and device.samplerate == 16000
    assert device.blocksize == 1600
    played = np.concatenate(device.played)
    assert np.isfinite(played).all()  # every sample of every block written
    assert "pitch +1" in err and "pitch +5" in err
    assert "warning" in err and "missing.safetensors" in err  # a voice that fails to load: warned, kept
    assert "monitor off" in err and "stopped after" in err and "Traceback" not in err
    # the device ran all its blocks: converted speech came out while the monitor was on, or silence after "m"
    assert len(device.played) == device.mic.shape[0] // 1600


@pytest.mark.slow
def test_monitor_off_plays_silence_and_ctrl_c_exits_cleanly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], adapter: Path
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice())
    FakeDuplexStream.instances.clear()

    class CtrlC:
        def __iter__(self) -> CtrlC:
            return self

        def __next__(self) -> str:
            FakeDuplexStream.instances[-1]._thread.join()  # let the device play everything first
            raise KeyboardInterrupt

    monkeypatch.setattr(sys, "stdin", CtrlC())
    assert cli_exit_code("live", "--lora", str(adapter), "--device", "cpu", "--block", "0.1", "--no-monitor") == 0
    assert "stopped after" in capsys.readouterr().err
    device = FakeDuplexStream.instances[-1]
    assert device.closed and all(not block.any() for block in device.played)


@pytest.mark.slow
def test_live_plays_converted_voice(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], adapter: Path
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice())
    FakeDuplexStream.instances.clear()
    _stdin(monkeypatch, "")
    monkeypatch.setattr("rvclora.commands.live._lines", lambda stream: iter(()))  # no prompt: run the device out
    assert cli_exit_code("live", "--lora", str(adapter), "--device", "cpu", "--block", "0.1") == 0
    device = FakeDuplexStream.instances[-1]
    played = np.concatenate(device.played)
    assert np.abs(played[3200:]).max() > 0.05  # converted speech after the stream's delay
    assert not np.allclose(played[3200:6400], device.mic[1600:4800], atol=1e-3)  # not the dry microphone


def test_unknown_device_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], adapter: Path
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice())
    assert cli_exit_code("live", "--lora", str(adapter), "--input", "Nonexistent") == 2
    err = capsys.readouterr().err
    assert "--list-devices" in err and len(err.strip().splitlines()) == 1
