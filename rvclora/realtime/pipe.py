"""``rvclora stream``'s loop: PCM or WAV in on a pipe, converted PCM or WAV out, a block at a time.

Reads take what the pipe has (``read1``), so output starts after the first block, never at end of input.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from rvclora.errors import BadInputError
from rvclora.realtime.pcm import PcmFormat, read_wav_header, wav_header

if TYPE_CHECKING:
    from rvclora.realtime.stream import Stream, StreamStats


def open_input(source: BinaryIO, raw: bool, sample: str, sr: int | None) -> tuple[PcmFormat, bytes]:
    """The input's format (from the WAV header, or the flags with ``raw``) and the first bytes of audio."""
    first = source.read(4) or b""
    if raw:
        if first == b"RIFF":
            raise BadInputError(
                "stdin starts with a WAV header but --raw was given",
                "drop --raw to read the WAV header, or send headerless PCM",
            )
        if sr is None:
            raise BadInputError("raw PCM on stdin needs its rate", "pass --sr, e.g. --sr 48000")
        return PcmFormat(sample, sr), first
    if not first:
        raise BadInputError("no audio on stdin", "pipe a WAV stream in, or raw PCM with --raw")
    fmt = read_wav_header(source, first)
    if sr is not None and fmt.sr != sr:
        raise BadInputError(f"stdin is {fmt.sr} Hz WAV but --sr is {sr}", f"pass --sr {fmt.sr} or resample the input")
    return fmt, b""


def run_pipe(
    source: BinaryIO,
    sink: BinaryIO,
    stream: Stream,
    fmt: PcmFormat,
    out: PcmFormat,
    raw: bool,
    pending: bytes = b"",
    report: Callable[[StreamStats], None] | None = None,
    every: float = 1.0,
) -> None:
    """Convert ``source`` to ``sink`` until end of input; ``report`` gets the stream's stats every ``every`` s.

    A closed ``sink`` raises BrokenPipeError, which the command turns into a quiet exit.
    """
    if not raw:
        _write(sink, wav_header(out))
    chunk = max(fmt.frame_bytes, int(stream.settings.block * fmt.sr) * fmt.frame_bytes)
    reader = getattr(source, "read1", source.read)
    last = time.monotonic()
    while True:
        data = reader(chunk)
        if not data:
            break
        pending += data
        whole = len(pending) - len(pending) % fmt.frame_bytes
        if whole:
            converted = stream.process(fmt.decode(pending[:whole]))
            pending = pending[whole:]
            if converted.size:
                _write(sink, out.encode(converted))
        if report is not None and time.monotonic() - last >= every:
            report(stream.stats)
            last = time.monotonic()
    _write(sink, out.encode(stream.flush()))
    if report is not None:
        report(stream.stats)


def _write(sink: BinaryIO, data: bytes) -> None:
    if data:
        sink.write(data)
        sink.flush()
