"""One voice's output of a long input, built as pieces arrive (rvc-interop.md §8 steps 8 and 10–12, streamed).

Pieces are stitched, loudness-mixed and resampled as they come and kept in a temporary
:class:`~rvclora.infer.spool.Spool`; only the peak limit (step 12) needs the whole output, so it is applied
while the spool is encoded into the destination. Memory stays at one piece plus about a second of look-ahead
for the loudness envelope.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rvclora.infer import dsp
from rvclora.infer.chunking import WINDOW, ChunkConfig
from rvclora.infer.options import ConvertOptions
from rvclora.infer.pipeline import Stitcher, crossfade_samples
from rvclora.infer.source import _Resampler
from rvclora.infer.spool import Spool


@dataclass(frozen=True)
class OutputTarget:
    """Where a voice's output goes: a file (``None`` = stdout), its format and sample format."""

    dest: Path | None
    format: str = "wav"
    subtype: str | None = None


class RmsMixer:
    """:func:`rvclora.infer.dsp.mix_rms` block by block, for an output of known length ``total``.

    The output envelope (RMS over ``sr`` samples every ``sr // 2``) of a sample needs the samples up to one
    frame ahead, so output is released about a second after it arrives. Same formula as the in-memory mix
    (torch's linear interpolation, half-pixel centres); sums are taken per frame, so values agree to float
    rounding.
    """

    def __init__(self, env_in: np.ndarray, sr: int, total: int, rate: float) -> None:
        self.env_in, self.rate, self.total = env_in, rate, total
        self.hop = sr // 2
        self.frame = 2 * self.hop
        self.env_out = np.zeros(1 + total // self.hop)
        self.known = 0  # output envelope frames computed so far
        self.buf = np.zeros(0, np.float32)
        self.buf_start = 0  # output index of buf[0]
        self.received = self.emitted = 0

    def push(self, x: np.ndarray, final: bool = False) -> np.ndarray:
        self.buf = np.concatenate([self.buf, x.astype(np.float32, copy=False)])
        self.received += x.shape[0]
        n_out = self.env_out.shape[0]
        ready = n_out if final else min(n_out, self.received // self.hop)  # frame j needs samples < (j+1)·hop
        for j in range(self.known, ready):
            lo, hi = max(j * self.hop - self.hop, 0), min(j * self.hop + self.hop, self.received)
            seg = self.buf[lo - self.buf_start : hi - self.buf_start].astype(np.float64)
            self.env_out[j] = np.sqrt(np.dot(seg, seg) / self.frame)
        self.known = ready
        idx = np.arange(self.emitted, self.received)
        _, i1, _ = _linear(idx, n_out, self.total)
        count = idx.shape[0] if final else int(np.searchsorted(i1, self.known))  # i1 never decreases
        idx = idx[:count]
        gain = self._gain(idx)
        start = self.emitted - self.buf_start
        out = (self.buf[start : start + count] * gain).astype(np.float32)
        self.emitted += count
        keep = min(self.emitted, max(self.known * self.hop - self.hop, 0))
        self.buf, self.buf_start = self.buf[keep - self.buf_start :], keep
        return out

    def _gain(self, idx: np.ndarray) -> np.ndarray:
        env_in = _interp(self.env_in, idx, self.total)
        env_out = np.maximum(_interp(self.env_out, idx, self.total), 1e-6)
        return (np.power(env_in, 1.0 - self.rate) * np.power(env_out, self.rate - 1.0)).astype(np.float32)


def _linear(idx: np.ndarray, n_src: int, n_dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source frames and weight of output samples ``idx`` in ``F.interpolate(size=n_dst, mode="linear")``."""
    src = np.maximum((idx + 0.5) * (n_src / n_dst) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_src - 1)
    return i0, np.minimum(i0 + 1, n_src - 1), src - i0


def _interp(frames: np.ndarray, idx: np.ndarray, n_dst: int) -> np.ndarray:
    i0, i1, w = _linear(idx, frames.shape[0], n_dst)
    return (1 - w) * frames[i0] + w * frames[i1]


class OutputSink:
    """Collects one voice's pieces for an input of ``n_16k`` samples; :meth:`write` produces the file."""

    def __init__(
        self,
        voice_sr: int,
        n_16k: int,
        env_in: np.ndarray,
        cfg: ChunkConfig,
        options: ConvertOptions,
        target: OutputTarget,
        spool: Path,
    ) -> None:
        from rvclora.audio.io import fit_rate

        self.voice_sr = voice_sr
        self.total = n_16k // WINDOW * (voice_sr // 100)  # pieces tile the input's 10 ms frames exactly
        self.stitcher = Stitcher(crossfade_samples(cfg, voice_sr))
        rate = options.rms_mix_rate
        self.mixer = RmsMixer(env_in, voice_sr, self.total, rate) if rate < 1.0 and self.total else None
        sr = dsp.resample_output(np.zeros(0, np.float32), voice_sr, options.resample_sr)[1]
        self.sr = fit_rate(target.format, sr)
        self.resampler = _Resampler(voice_sr, self.sr)
        self.target = target
        self.spool = Spool(spool)

    def push(self, piece: np.ndarray, last: bool) -> None:
        x = self.stitcher.push(piece, last)
        if self.mixer is not None:
            x = self.mixer.push(x, final=last)
        self.spool.append(self.resampler.push(x, last=last))

    def write(self) -> None:
        """Step 12 (scale down to a 0.99 peak only if the output would clip) while encoding the spool."""
        from rvclora.audio.io import write_audio_blocks

        factor = self.spool.peak / 0.99
        blocks = ((x / factor).astype(np.float32) if factor > 1 else x for _, x in self.spool.blocks())
        write_audio_blocks(self.target.dest, blocks, self.sr, self.spool.n, self.target.format, self.target.subtype)

    def close(self) -> None:
        self.spool.close()
