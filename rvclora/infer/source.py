"""An input of any length made ready for conversion in bounded memory (rvc-interop.md §8 steps 1 and 4).

The input is decoded block by block, mixed to mono, resampled to 16 kHz by a streaming resampler (soxr, the
one librosa uses: the same samples as resampling the whole file), peak-guarded and high-passed, and kept in a
temporary file (:class:`~rvclora.infer.spool.Spool`). Every check that needs no model happens here, so a bad
input fails before anything loads. The high-pass is a streamed replica of scipy's ``filtfilt`` (odd extension,
steady-state initial conditions, forward then backward pass): the result equals the in-memory filter exactly.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from rvclora.errors import BadInputError
from rvclora.infer import dsp
from rvclora.infer.spool import BLOCK, Spool


@dataclass
class PreparedInput:
    """The high-passed, peak-guarded 16 kHz mono input in ``signal`` (``label`` names it in messages)."""

    signal: Spool
    label: str
    source_sr: int

    @property
    def duration(self) -> float:
        return self.signal.n / dsp.SR_16K

    def close(self) -> None:
        self.signal.close()


def prepare_input(
    source: Path | BinaryIO | None, workdir: Path, label: str | None = None, block: int = BLOCK
) -> PreparedInput:
    """Decode ``source`` (a path, a binary stream, or None for stdin) into ``workdir``; refuse empty, silent or
    non-finite audio with one line."""
    name = label or (str(source) if isinstance(source, Path) else "stdin")
    if not isinstance(source, Path):
        source = _spool_stream(source if source is not None else sys.stdin.buffer, workdir / "stdin.bin", name)
    raw = Spool(workdir / "input.f32")
    try:
        sr = _decode(source, raw, name, block)
        if raw.n == 0:
            raise BadInputError(f"audio file {name} is empty (0 samples)", "give a file with sound in it")
        if raw.n <= 3 * 6:  # shorter than the high-pass filter's edge extension (about 1 ms)
            raise BadInputError(
                f"audio file {name} is too short ({raw.n} samples at 16 kHz)", "give at least 10 ms of audio"
            )
        if raw.peak < dsp.SILENCE_PEAK:
            raise BadInputError(f"{name} is silent (peak {raw.peak:.1e})", "check the recording or the input file")
        factor = raw.peak / 0.95
        signal = highpass_spool(raw, factor if factor > 1 else None, workdir / "input16k.f32", block)
    finally:
        raw.close()
    return PreparedInput(signal, name, sr)


def _spool_stream(stream: BinaryIO, dest: Path, name: str) -> Path:
    """Copy a non-seekable stream (stdin) to a file in bounded memory, so it can be decoded in blocks."""
    with open(dest, "wb") as fh:
        shutil.copyfileobj(stream, fh, 1 << 20)
    if dest.stat().st_size == 0:
        raise BadInputError(f"no audio data on {name}", "pipe a WAV/FLAC/OGG stream in")
    return dest


def _decode(path: Path, out: Spool, name: str, block: int) -> int:
    """Append ``path`` as 16 kHz mono float32 to ``out``; returns the file's own rate."""
    import soundfile as sf

    try:
        fh = sf.SoundFile(str(path))
    except Exception:  # soundfile cannot read it (m4a, aac ...): decode it whole with librosa
        return _decode_whole(path, out, name)
    with fh:
        sr = int(fh.samplerate)
        resampler = _Resampler(sr, dsp.SR_16K)
        for data in fh.blocks(blocksize=block, dtype="float32", always_2d=True):
            if not np.isfinite(data).all():
                raise BadInputError(f"audio file {name} contains NaN or infinite samples", "re-export it")
            out.append(resampler.push(data.mean(axis=1)))
        out.append(resampler.push(np.zeros(0, np.float32), last=True))
    return sr


def _decode_whole(path: Path, out: Spool, name: str) -> int:
    """Formats only librosa/audioread can read are decoded in one piece (their memory grows with length)."""
    from rvclora.audio.io import load_audio, resample

    audio, sr = load_audio(path)
    out.append(resample(audio, sr, dsp.SR_16K))
    return sr


class _Resampler:
    """Block-wise resampling that gives the same samples as ``librosa.resample`` on the whole signal."""

    def __init__(self, sr_in: int, sr_out: int) -> None:
        self._stream = None
        if sr_in != sr_out:
            import soxr

            self._stream = soxr.ResampleStream(sr_in, sr_out, 1, dtype="float32", quality="HQ")

    def push(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self._stream is None:
            return x
        return self._stream.resample_chunk(x, last=last)


def highpass_spool(src: Spool, factor: float | None, dest: Path, block: int = BLOCK) -> Spool:
    """``highpass_48hz(src / factor)`` into a new spool, streamed: equal to scipy's ``filtfilt`` on the whole."""
    from scipy import signal as sps

    b, a = sps.butter(N=5, Wn=48, btype="high", fs=dsp.SR_16K)
    padlen = 3 * max(len(a), len(b))  # filtfilt's default
    out = Spool(dest)
    n = src.n

    def scaled(x: np.ndarray) -> np.ndarray:
        return (x / factor).astype(np.float32) if factor is not None else x

    if n <= max(padlen, block):  # short: the in-memory filter itself
        out.append(dsp.highpass_48hz(scaled(src.load())))
        return out
    head, tail = scaled(src.read(0, padlen + 1)), scaled(src.read(n - padlen - 1, n))
    left = 2 * head[0] - head[padlen:0:-1]  # filtfilt's odd extension, in float32 as there
    right = 2 * tail[-1] - tail[-2::-1]
    zi = sps.lfilter_zi(b, a)
    with Spool(dest.with_suffix(".fwd"), np.float64) as forward:
        state = zi * left[0]
        for i, (_, x) in enumerate(src.blocks(block)):
            x = scaled(x)
            if i == 0:
                x = np.concatenate([left, x])
            y, state = sps.lfilter(b, a, x, zi=state)
            forward.append(y)
        y, state = sps.lfilter(b, a, right, zi=state)
        forward.append(y)
        state = zi * forward.read(forward.n - 1, forward.n)[0]
        for start, y in forward.blocks(block, reverse=True):
            z, state = sps.lfilter(b, a, y[::-1], zi=state)
            z = z[::-1]
            lo, hi = max(start, padlen), min(start + len(z), padlen + n)  # drop the extensions
            if hi > lo:
                out.write_at(lo - padlen, z[lo - start : hi - start].astype(np.float32))
    return out


def source_rms_frames(signal: Spool, frame: int = dsp.SR_16K, block: int = BLOCK) -> np.ndarray:
    """RMS of the input over ``frame`` samples every ``frame // 2`` (centred, zero-padded): the frames
    :func:`rvclora.infer.dsp.mix_rms` interpolates, computed in one pass (one value per half second)."""
    hop = frame // 2
    sums = np.zeros(signal.n // hop + 1, np.float64)  # sum of squares per hop-long stretch
    for start, x in signal.blocks(block // hop * hop or hop):
        sq = x.astype(np.float64) ** 2
        k = start // hop
        parts = np.add.reduceat(sq, np.arange(0, len(sq), hop))
        sums[k : k + len(parts)] += parts
    frames = sums + np.concatenate([[0.0], sums[:-1]])  # frame j covers stretches j-1 and j
    return np.sqrt(frames / frame)
