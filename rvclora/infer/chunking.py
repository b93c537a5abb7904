"""Where a long input is cut, and which samples and pitch frames each piece sees (rvc-interop.md §8 steps 5–8).

Long inputs are converted piece by piece (memory grows with length, attention quadratically). Cuts go to
the quietest 10 ms near every ``x_center`` seconds, each piece is converted with ``x_pad`` seconds of real
(or reflected) context on both sides, and the context is trimmed from the output again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rvclora.errors import ConfigError

WINDOW = 160  # samples per pitch frame at 16 kHz (10 ms)


@dataclass(frozen=True)
class ChunkConfig:
    """Upstream's x_pad/x_query/x_center/x_max (seconds); ``crossfade`` (seconds) smooths each seam."""

    x_pad: float = 1.0
    x_query: float = 6.0
    x_center: float = 38.0
    x_max: float = 41.0
    crossfade: float = 0.02

    def __post_init__(self) -> None:
        if self.x_pad < 0.05 or self.x_query <= 0 or self.x_center <= self.x_query or self.x_max < self.x_center:
            raise ConfigError(
                f"invalid chunking {self}", "need x_pad >= 0.05 and 0 < x_query < x_center <= x_max (seconds)"
            )
        if not 0 <= self.crossfade <= self.x_pad:
            raise ConfigError(f"crossfade {self.crossfade}s must be between 0 and x_pad ({self.x_pad}s)")

    @property
    def t_pad(self) -> int:
        """Context per side in 16 kHz samples, a whole number of frames so model rates line up."""
        return max(1, round(16000 * self.x_pad / WINDOW)) * WINDOW

    @property
    def pad_frames(self) -> int:
        return self.t_pad // WINDOW


# Upstream's numbers (configs/config.py): fp32 (CPU), fp16 (GPU), and GPUs with <= 4 GB memory.
FP32 = ChunkConfig(1, 6, 38, 41)
FP16 = ChunkConfig(3, 10, 60, 65)
LOW_MEMORY = ChunkConfig(1, 5, 30, 32)


def default_chunking(half: bool, gpu_memory_gb: float | None = None) -> ChunkConfig:
    """Upstream's choice: small pieces on small GPUs, longer pieces (and context) in half precision."""
    if gpu_memory_gb is not None and gpu_memory_gb <= 4.5:
        return LOW_MEMORY
    return FP16 if half else FP32


@dataclass(frozen=True)
class Piece:
    """One piece: ``audio_pad[start:stop]`` goes to HuBERT, pitch frames ``[frame0, frame1)`` to the model.

    The model output covers original time ``[frame0 - pad_frames, frame1 - pad_frames)`` frames after the
    context (``pad_frames`` per side) is trimmed; ``last`` pieces have no following seam.
    """

    start: int
    stop: int
    frame0: int
    frame1: int
    last: bool


def find_cuts(audio: np.ndarray, cfg: ChunkConfig) -> list[int]:
    """Cut points (16 kHz samples of the unpadded input) at the quietest spot near each multiple of x_center."""
    t_query, t_center, t_max = (int(16000 * x) for x in (cfg.x_query, cfg.x_center, cfg.x_max))
    half = WINDOW // 2
    if audio.shape[0] + 2 * half <= t_max:
        return []
    padded = np.pad(np.abs(audio), (half, half), mode="reflect")
    csum = np.concatenate([[0.0], np.cumsum(padded, dtype=np.float64)])
    moving = csum[WINDOW : WINDOW + audio.shape[0]] - csum[: audio.shape[0]]  # sum of |x| over 10 ms around t
    cuts = []
    for t in range(t_center, audio.shape[0], t_center):
        lo = max(t - t_query, 0)
        window = moving[lo : t + t_query]
        cuts.append(lo + int(np.argmin(window)))
    return cuts


def find_cuts_in(read: Callable[[int, int], np.ndarray], n: int, cfg: ChunkConfig) -> list[int]:
    """:func:`find_cuts` for a signal of ``n`` samples read by range (``read(lo, hi)`` mirrors indices outside
    ``[0, n)``), so a long input never has to be in memory: each cut is found in its own window.

    The moving sums are the same numbers summed from the window's start instead of the signal's, so a cut
    can only move where two 10 ms spots tie to within float rounding.
    """
    t_query, t_center, t_max = (int(16000 * x) for x in (cfg.x_query, cfg.x_center, cfg.x_max))
    half = WINDOW // 2
    if n + 2 * half <= t_max:
        return []
    cuts = []
    for t in range(t_center, n, t_center):
        lo, hi = max(t - t_query, 0), min(t + t_query, n)
        csum = np.concatenate([[0.0], np.cumsum(np.abs(read(lo - half, hi + half)), dtype=np.float64)])
        moving = csum[WINDOW : WINDOW + hi - lo] - csum[: hi - lo]
        cuts.append(lo + int(np.argmin(moving)))
    return cuts


def plan_pieces(n_samples: int, cuts: list[int], cfg: ChunkConfig) -> list[Piece]:
    """Pieces of the reflect-padded input (length ``n_samples + 2·t_pad``) for the given cut points."""
    t_pad = cfg.t_pad
    total_frames = (n_samples + 2 * t_pad) // WINDOW
    pieces: list[Piece] = []
    s = 0
    for t in cuts:
        t = t // WINDOW * WINDOW
        if t <= s:  # two cuts in the same frame: nothing between them
            continue
        pieces.append(Piece(s, t + 2 * t_pad + WINDOW, s // WINDOW, (t + 2 * t_pad) // WINDOW, False))
        s = t
    pieces.append(Piece(s, n_samples + 2 * t_pad, s // WINDOW, total_frames, True))
    return pieces


def reflect_pad(audio: np.ndarray, cfg: ChunkConfig) -> np.ndarray:
    """Step 6: mirror ``t_pad`` samples onto both ends (numpy reflects repeatedly for inputs shorter than that)."""
    return np.pad(audio, (cfg.t_pad, cfg.t_pad), mode="reflect")
