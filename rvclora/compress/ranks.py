"""Choosing per-layer ranks.

Fixed: every layer gets ``min(rank, its ΔW's rank)``.

Auto (``--rank auto``): one global budget ε. Each layer keeps the smallest rank whose relative Frobenius
residual ‖ΔW − ΔW_r‖/‖ΔW‖ is ≤ ε, so every layer is approximated equally well relative to its own change and
layers with a concentrated spectrum get small ranks. ε is found by bisection on a log scale between 1e-4 and
1: the largest ε (smallest adapter) whose audio SNR on the probe, measured with the factors rounded as
stored, meets the target. The SNR is not strictly monotone in ε, so the search keeps the best ε it has
*measured* to pass, never an interpolated one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rvclora.compress.difference import LayerChange
from rvclora.compress.settings import BISECTION_STEPS, EPS_MIN

Ranks = dict[str, int]


def fixed_ranks(layers: Sequence[LayerChange], rank: int) -> Ranks:
    return {c.path: min(rank, c.spectrum.max_rank) for c in layers}


def ranks_for_eps(layers: Sequence[LayerChange], eps: float) -> Ranks:
    return {c.path: c.spectrum.rank_for(eps) for c in layers}


@dataclass
class AutoChoice:
    ranks: Ranks
    eps: float
    snr_db: float
    reached: bool  # False: even the finest budget tried missed the target
    evaluations: int


def search_ranks(layers: Sequence[LayerChange], snr_of: Callable[[Ranks], float], target_snr: float) -> AutoChoice:
    """Bisect log ε for the largest budget whose measured SNR ≥ ``target_snr``."""
    measured: dict[tuple[int, ...], float] = {}

    def snr(eps: float) -> tuple[Ranks, float]:
        ranks = ranks_for_eps(layers, eps)
        key = tuple(ranks.values())
        if key not in measured:
            measured[key] = snr_of(ranks)
        return ranks, measured[key]

    lo, hi = math.log(EPS_MIN), 0.0
    ranks, value = snr(EPS_MIN)
    if value < target_snr:
        return AutoChoice(ranks, EPS_MIN, value, False, len(measured))
    best = AutoChoice(ranks, EPS_MIN, value, True, 0)
    top_ranks, top = snr(1.0)
    if top >= target_snr:
        return AutoChoice(top_ranks, 1.0, top, True, len(measured))
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        ranks, value = snr(math.exp(mid))
        if value >= target_snr:
            lo, best = mid, AutoChoice(ranks, math.exp(mid), value, True, 0)
        else:
            hi = mid
    best.evaluations = len(measured)
    return best
