"""F0 agreement between two aligned contours (Hz per frame, 0 = unvoiced).

RMSE in cents and the Pearson correlation of log-F0 use only frames voiced in both; the voicing error is the
fraction of aligned frames whose voiced/unvoiced decisions differ. A metric with no frames to stand on is
None (undefined), never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FLAT_CENTS = 0.1  # standard deviation (cents) below which a contour counts as flat


@dataclass(frozen=True)
class F0Scores:
    rmse_cents: float | None
    corr: float | None
    vuv_error: float | None
    voiced_both: int  # frames voiced in both contours: what the RMSE and correlation rest on


def f0_scores(f0_ref: np.ndarray, f0_conv: np.ndarray, path: tuple[np.ndarray, np.ndarray]) -> F0Scores:
    """Compare ``f0_ref[path[0]]`` with ``f0_conv[path[1]]`` frame by frame."""
    ref = np.asarray(f0_ref, dtype=np.float64)[path[0]]
    conv = np.asarray(f0_conv, dtype=np.float64)[path[1]]
    v_ref, v_conv = ref > 0, conv > 0
    vuv = float(np.mean(v_ref != v_conv)) if len(ref) else None
    both = v_ref & v_conv
    n = int(both.sum())
    if n == 0:
        return F0Scores(None, None, vuv, 0)
    log_ref, log_conv = np.log2(ref[both]), np.log2(conv[both])
    cents = 1200.0 * (log_conv - log_ref)
    rmse = float(np.sqrt(np.mean(cents * cents)))
    return F0Scores(rmse, _pearson(log_ref, log_conv), vuv, n)


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson r of two log2-F0 series; None for fewer than two frames or a flat contour.

    A contour that moves less than FLAT_CENTS has no shape to correlate (r would be 0/0 or rounding noise).
    """
    if len(a) < 2 or 1200.0 * min(a.std(), b.std()) < FLAT_CENTS:
        return None
    da, db = a - a.mean(), b - b.mean()
    r = (da * db).sum() / np.sqrt((da * da).sum() * (db * db).sum())
    return float(np.clip(r, -1.0, 1.0))
