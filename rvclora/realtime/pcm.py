"""Raw PCM and streaming WAV on pipes: s16le or f32le, mono; a WAV header is parsed and written by hand
because a pipe has no length to seek back to (the header's sizes are left at 0xFFFFFFFF, as arecord does)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from rvclora.errors import BadInputError


@dataclass(frozen=True)
class PcmFormat:
    """Sample encoding, rate and channel count of a PCM stream."""

    sample: str  # s16le or f32le
    sr: int
    channels: int = 1

    @property
    def frame_bytes(self) -> int:
        return (2 if self.sample == "s16le" else 4) * self.channels

    def decode(self, data: bytes) -> np.ndarray:
        """Whole frames of bytes → mono float32 (channels averaged)."""
        dtype = "<i2" if self.sample == "s16le" else "<f4"
        x = np.frombuffer(data, dtype=dtype).astype(np.float32)
        if self.sample == "s16le":
            x /= 32768.0
        return x.reshape(-1, self.channels).mean(axis=1) if self.channels > 1 else x

    def encode(self, audio: np.ndarray) -> bytes:
        """Mono float32 → bytes (one channel; s16le is clipped and rounded)."""
        if self.sample == "s16le":
            return np.clip(np.rint(audio * 32767.0), -32768, 32767).astype("<i2").tobytes()
        return audio.astype("<f4").tobytes()


def wav_header(fmt: PcmFormat) -> bytes:
    """A WAV header for a stream of unknown length (mono)."""
    bits = 16 if fmt.sample == "s16le" else 32
    code = 1 if fmt.sample == "s16le" else 3
    block = bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", 0xFFFFFFFF)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, code, 1, fmt.sr, fmt.sr * block, block, bits)
        + b"data"
        + struct.pack("<I", 0xFFFFFFFF)
    )


def _read_exact(stream: BinaryIO, n: int, what: str) -> bytes:
    data = b""
    while len(data) < n:
        part = stream.read(n - len(data))
        if not part:
            raise BadInputError(
                f"stdin ended inside the WAV header ({what})", "pipe a WAV stream, or raw PCM with --raw"
            )
        data += part
    return data


def read_wav_header(stream: BinaryIO, first: bytes = b"") -> PcmFormat:
    """Parse a WAV header up to its ``data`` chunk; ``first`` holds bytes already read from ``stream``."""
    head = first + _read_exact(stream, 12 - len(first), "RIFF") if len(first) < 12 else first
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise BadInputError("stdin is not a WAV stream", "pass --raw for headerless PCM (with --sr and --format)")
    fmt: tuple[int, int, int, int] | None = None
    while True:
        chunk = _read_exact(stream, 8, "chunk")
        cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if cid == b"data":
            break
        body = _read_exact(stream, size + size % 2, cid.decode("latin-1"))
        if cid == b"fmt ":
            code, channels, sr, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if code == 0xFFFE and size >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real code opens the sub-format GUID
                code = struct.unpack("<H", body[24:26])[0]
            fmt = (code, channels, sr, bits)
    if fmt is None:
        raise BadInputError("the WAV stream on stdin has no fmt chunk", "pipe a well-formed WAV stream")
    code, channels, sr, bits = fmt
    sample = {(1, 16): "s16le", (3, 32): "f32le"}.get((code, bits))
    if sample is None or channels < 1:
        raise BadInputError(
            f"the WAV stream on stdin is {bits}-bit (format code {code}), {channels} channel(s)",
            "stream 16-bit PCM or 32-bit float WAV (e.g. sox ... -b 16 -e signed)",
        )
    return PcmFormat(sample, sr, channels)
