"""How much of full fine-tuning's improvement a variant reaches, measured from the embedding-only floor.

gain % = 100 · (variant − floor) / (full − floor). The same formula serves lower-is-better metrics (MCD:
numerator and denominator are both negative when things improve) and higher-is-better ones (speaker
similarity). Undefined (None) when a value is missing or full fine-tuning left the metric where the floor is.
"""

from __future__ import annotations

TINY = 1e-9


def gain_pct(value: float | None, floor: float | None, full: float | None) -> float | None:
    """The share of the floor → full change that ``value`` reaches, in percent (100 = as good as full)."""
    if value is None or floor is None or full is None or abs(full - floor) < TINY:
        return None
    return 100.0 * (value - floor) / (full - floor)
