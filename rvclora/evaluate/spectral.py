"""STFT magnitudes on the shared 10 ms frame grid, and spectral convergence.

Frames are centred at round(k · frame_period · sr) (zero padding at the edges), so every rate — including
22.05 kHz, where 10 ms is not a whole number of samples — lands on the same grid as the F0 and the
mel-cepstra, and one alignment path serves every metric.
"""

from __future__ import annotations

import numpy as np


def fft_size(sr: int) -> int:
    """A power of two covering 40 ms (1024 at 16 kHz, 2048 at 40/44.1/48 kHz)."""
    return int(2 ** np.ceil(np.log2(0.04 * sr)))


def magnitude_spectrogram(wav: np.ndarray, sr: int, n_frames: int, frame_period_s: float) -> np.ndarray:
    """|STFT| [n_frames, n_fft/2+1] with a Hann window, frame k centred at k · frame_period_s."""
    n_fft = fft_size(sr)
    half = n_fft // 2
    padded = np.pad(np.asarray(wav, dtype=np.float64), (half, half + n_fft))
    centres = np.round(np.arange(n_frames) * frame_period_s * sr).astype(np.int64)
    centres = np.minimum(centres, len(wav))
    frames = padded[centres[:, None] + np.arange(n_fft)[None, :]]
    return np.abs(np.fft.rfft(frames * np.hanning(n_fft + 1)[:-1], axis=1))


def spectral_convergence(s_ref: np.ndarray, s_conv: np.ndarray, path: tuple[np.ndarray, np.ndarray]) -> float | None:
    """‖|S_ref| − |S_conv|‖_F / ‖|S_ref|‖_F over the aligned frames; None when the reference has no energy."""
    ref = s_ref[path[0]]
    denom = float(np.linalg.norm(ref))
    if denom <= 0.0:
        return None
    return float(np.linalg.norm(ref - s_conv[path[1]]) / denom)
