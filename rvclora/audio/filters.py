"""Sample-level filters of the preprocessing stage (rvc-interop.md §4 steps 3 and 6).

Kept exactly as RVC does them, so clips made here train the same way as clips made by RVC: a causal
Butterworth high-pass (not zero-phase: filtfilt would add pre-ringing before onsets) and RVC's partial
peak normalisation with a peak guard.
"""

from __future__ import annotations

import numpy as np


def highpass(audio: np.ndarray, sr: int, cutoff_hz: float = 48.0, order: int = 5) -> np.ndarray:
    """Causal Butterworth high-pass along the last axis (removes DC and rumble below ``cutoff_hz``)."""
    from scipy import signal

    b, a = signal.butter(N=order, Wn=cutoff_hz, btype="high", fs=sr)
    return signal.lfilter(b, a, audio).astype(np.float32, copy=False)


def normalize_clip(
    clip: np.ndarray, peak_limit: float = 2.5, norm_max: float = 0.9, alpha: float = 0.75
) -> np.ndarray | None:
    """RVC's clip normalisation: ``y = x / peak * (norm_max * alpha) + (1 - alpha) * x``.

    Returns None (drop the clip) when the peak exceeds ``peak_limit`` (broken or badly clipped audio) or when
    the clip is digital silence (nothing to normalise, and nothing to learn from).
    """
    peak = float(np.abs(clip).max()) if clip.size else 0.0
    if peak > peak_limit or peak == 0.0:
        return None
    return (clip / peak * (norm_max * alpha) + (1.0 - alpha) * clip).astype(np.float32, copy=False)
