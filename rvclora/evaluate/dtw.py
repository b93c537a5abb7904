"""Dynamic time warping: the frame alignment behind every frame-wise metric of a pair.

Symmetric steps (i-1, j), (i, j-1), (i-1, j-1), each adding the local cost of the cell it lands on; the path
runs from the first frames to the last frames of both sequences. Filled by anti-diagonals so the inner work
is vectorised (each anti-diagonal depends only on the two before it).
"""

from __future__ import annotations

import numpy as np

from rvclora.errors import BadInputError

# 25 M cells = 200 MB of float64: about 50 s against 50 s at 10 ms frames.
MAX_CELLS = 25_000_000


def euclidean_cost(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances between the rows of ``x`` [N, D] and ``y`` [M, D] → [N, M]."""
    sq = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    return np.sqrt(np.maximum(sq, 0.0))


def dtw_path(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost monotonic path through ``cost`` [N, M]; returns index arrays ``(i, j)`` of equal length."""
    n, m = cost.shape
    if n == 0 or m == 0:
        raise BadInputError("cannot align an empty sequence", "give files longer than 10 ms")
    if n * m > MAX_CELLS:
        raise BadInputError(
            f"files too long to align with DTW ({n} x {m} frames)",
            "use --align time for conversions of the reference itself, or split the files into shorter clips",
        )
    acc = np.full((n + 1, m + 1), np.inf)  # padded: row/column 0 are the "before the start" border
    acc[0, 0] = 0.0
    for k in range(n + m - 1):
        i = np.arange(max(0, k - m + 1), min(n, k + 1))
        j = k - i
        best = np.minimum(np.minimum(acc[i, j + 1], acc[i + 1, j]), acc[i, j])
        acc[i + 1, j + 1] = cost[i, j] + best
    return _backtrack(acc)


def _backtrack(acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walk back from the end, preferring the diagonal on ties (the shortest path among equals)."""
    i, j = acc.shape[0] - 1, acc.shape[1] - 1
    path = [(i - 1, j - 1)]
    while (i, j) != (1, 1):
        diag, up, left = acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]
        if diag <= up and diag <= left:
            i, j = i - 1, j - 1
        elif up <= left:
            i -= 1
        else:
            j -= 1
        path.append((i - 1, j - 1))
    idx = np.asarray(path[::-1], dtype=np.int64)
    return idx[:, 0], idx[:, 1]


def time_path(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame i with frame i, cut to the shorter sequence (for files that are already time-aligned)."""
    k = min(n, m)
    if k == 0:
        raise BadInputError("cannot align an empty sequence", "give files longer than 10 ms")
    idx = np.arange(k)
    return idx, idx
