"""Aggregates over pairs: mean, median and a 95 % Student-t confidence interval of the mean.

The t-interval (mean ± t₀.₉₇₅,ₙ₋₁ · s/√n, s the sample standard deviation) is exact for normal data and
deterministic, unlike a bootstrap; undefined values (None) are left out and counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

CI_METHOD = "student-t 95% interval of the mean over defined values"


def summarize(values: Sequence[float | None]) -> dict[str, Any]:
    """``{n, undefined, mean, median, ci95: [low, high]}``; statistics that need more data are None."""
    defined = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = len(defined)
    summary: dict[str, Any] = {"n": n, "undefined": len(values) - n, "mean": None, "median": None, "ci95": None}
    if n == 0:
        return summary
    mean = float(defined.mean())
    summary["mean"], summary["median"] = mean, float(np.median(defined))
    if n >= 2:
        from scipy import stats

        half = float(stats.t.ppf(0.975, n - 1) * defined.std(ddof=1) / math.sqrt(n))
        summary["ci95"] = [mean - half, mean + half]
    return summary
