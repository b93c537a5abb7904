"""The sound-card layer of ``rvclora live``, kept thin: sounddevice's full-duplex stream calls
:meth:`LiveLoop.callback` once per block, which converts it in place (as RVC's real-time GUI does)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rvclora.errors import ConfigError, MissingExtraError

if TYPE_CHECKING:
    from rvclora.realtime.stream import Stream


def import_sounddevice() -> Any:
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the package is there but PortAudio is not
        raise MissingExtraError("rvclora live", "live", "sounddevice") from exc
    return sounddevice


def list_devices(sd: Any) -> list[dict[str, Any]]:
    """Every device with its index, host API and channel counts (for ``--list-devices``)."""
    apis = [a["name"] for a in sd.query_hostapis()]
    return [
        {
            "index": i,
            "name": d["name"],
            "hostapi": apis[d["hostapi"]] if d["hostapi"] < len(apis) else "",
            "inputs": d["max_input_channels"],
            "outputs": d["max_output_channels"],
            "default_sr": int(d["default_samplerate"]),
        }
        for i, d in enumerate(sd.query_devices())
    ]


def device_arg(value: str | None) -> int | str | None:
    """sounddevice takes a device as its index or a unique part of its name."""
    return None if value is None or value == "" else int(value) if value.isdigit() else value


def default_rate(sd: Any, device: int | str | None) -> int:
    try:
        return int(sd.query_devices(device, "input")["default_samplerate"])
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"no input device {device!r}: {exc}", "see rvclora live --list-devices") from None


class LiveLoop:
    """Converts each device block; ``monitor`` False sends silence (the conversion keeps running)."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.monitor = True
        self.error: BaseException | None = None

    def callback(self, indata: np.ndarray, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        try:
            converted = self.stream.process(indata[:, 0])
        except Exception as exc:
            self.error = exc
            converted = np.zeros(0, np.float32)
        n = min(frames, converted.shape[0])
        outdata.fill(0)
        if self.monitor:
            outdata[:n, 0] = converted[:n]

    def open(self, sd: Any, input: int | str | None, output: int | str | None) -> Any:
        """A started-when-entered sounddevice stream running :meth:`callback`, one block per call."""
        s = self.stream
        try:
            return sd.Stream(
                samplerate=s.sr,
                blocksize=int(round(s.settings.block * s.sr)),
                device=(input, output),
                channels=1,
                dtype="float32",
                callback=self.callback,
            )
        except (ValueError, sd.PortAudioError) as exc:
            raise ConfigError(f"cannot open the audio devices: {exc}", "see rvclora live --list-devices") from None
