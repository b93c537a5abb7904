"""Blend weights of several adapters, read in one place for merge, infer, stream, live and the Python API."""

from __future__ import annotations

from collections.abc import Sequence

from rvclora.errors import ConfigError


def parse_weights(values: str | Sequence[str | float] | None, count: int, *, shares: bool = False) -> list[float]:
    """One weight per adapter, from text (``"0.7,0.3"``, or repeated ``-w`` values) or numbers.

    Nothing given: equal shares, 1/count each (1 for one adapter). With ``shares`` the weights are a mix, as in a
    conversion: non-negative, not all zero, scaled to sum to 1. Without it they multiply each adapter's update as
    given, as ``rvclora merge`` does (``1,1`` adds two adapters at full strength).
    """
    items = [values] if isinstance(values, str) else list(values or [])
    parts = [p for item in items for p in (item.split(",") if isinstance(item, str) else [item])]
    parts = [p for p in parts if not isinstance(p, str) or p.strip()]
    try:
        weights = [float(p) for p in parts]
    except ValueError:
        given = ",".join(str(v) for v in items)
        raise ConfigError(
            f"--weights must be numbers separated by commas, got {given!r}", "e.g. --weights 0.7,0.3"
        ) from None
    if not weights:
        return [1.0 / count] * count
    if len(weights) != count:
        raise ConfigError(f"--weights has {len(weights)} values for {count} adapters", "give one weight per --lora")
    if not shares:
        return weights
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError("--weights must be non-negative and not all zero")
    total = float(sum(weights))
    return [w / total for w in weights]
