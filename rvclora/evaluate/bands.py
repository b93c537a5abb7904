"""Rating bands: what a metric's value means, in the words of the usual voice-conversion literature.

MCD (classic convention): < 4 dB excellent, 4–6 good, 6–8 acceptable, above poor. F0 correlation: > 0.9
excellent, 0.7–0.9 good, below poor. Spectral convergence: < 0.2 excellent, 0.2–0.5 good, above poor.
The MCD bands are defined for the classic convention only: pymcd-style numbers are far lower, so they get
no band. A boundary value belongs to the better band on the side the literature writes "<" or ">".
"""

from __future__ import annotations

# metric → (lower is better, the named bands' limits from best to worst, the label beyond the last limit).
# The best band excludes its limit ("< 4 dB"); the others include theirs ("4–6 dB": 6.0 is still good).
BANDS: dict[str, tuple[bool, tuple[tuple[float, str], ...], str]] = {
    "mcd_db": (True, ((4.0, "excellent"), (6.0, "good"), (8.0, "acceptable")), "poor"),
    "f0_corr": (False, ((0.9, "excellent"), (0.7, "good")), "poor"),
    "spectral_convergence": (True, ((0.2, "excellent"), (0.5, "good")), "poor"),
}


def rating(metric: str, value: float | None, mcd_style: str = "classic") -> str | None:
    """The band of ``value`` for ``metric``; None when the metric has no bands or the value is undefined."""
    if value is None or metric not in BANDS or (metric == "mcd_db" and mcd_style != "classic"):
        return None
    lower_is_better, limits, beyond = BANDS[metric]
    sign = 1.0 if lower_is_better else -1.0  # compare as "lower is better" throughout
    for i, (limit, label) in enumerate(limits):
        if sign * value < sign * limit or (i > 0 and value == limit):
            return label
    return beyond
