"""The sweep's held-out clips: whole source recordings, chosen by a seeded shuffle.

Holding out by source (not by clip) keeps overlapping clips of one recording from sitting on both sides,
which would flatter every variant.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

from rvclora.errors import BadInputError

MIN_SOURCES = 2  # one held out, at least one to train on


def require_sources(count: int) -> None:
    """One line naming the minimum when there are too few recordings to hold one out."""
    if count < MIN_SOURCES:
        raise BadInputError(
            f"a sweep needs at least {MIN_SOURCES} source recordings to hold one out; the workspace has {count}",
            "add recordings (or split a long one into several files) in the workspace's input folder",
        )


def split_by_source(source_of: Mapping[str, str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(training clips, held-out clips) from ``clip name → source key``; at least one source on each side."""
    sources = sorted(set(source_of.values()))
    require_sources(len(sources))
    shuffled = sources[:]
    random.Random(seed).shuffle(shuffled)
    n_held = min(max(1, math.ceil(len(sources) * fraction)), len(sources) - 1)
    held = set(shuffled[:n_held])
    train = sorted(c for c, s in source_of.items() if s not in held)
    return train, sorted(c for c, s in source_of.items() if s in held)
