"""The retrieval index RVC blends content features with: build, load, describe, retrieve.

Files are plain faiss ``IVF{n},Flat`` indexes with nprobe 1, built by RVC's rule, so RVC WebUI and Applio
read ours and we read theirs. Differences from upstream, both deliberate:

- Above 200,000 rows RVC reduces the set to 10,000 k-means centres with scikit-learn's MiniBatchKMeans;
  scikit-learn is not a dependency here, so the same reduction uses ``faiss.Kmeans`` (full-batch Lloyd
  iterations, random initial centres). The centres differ numerically, not in kind.
- Retrieval weights are (1/d)² for squared L2 distances d; RVC divides by zero when a query equals a stored
  vector (NaN/inf features). Here distances are floored at ``MIN_DISTANCE``, so an exact match takes
  practically all the weight — the limit of the formula — and the output stays finite.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rvclora.errors import BadInputError, ConfigError, IncompatibleError
from rvclora.fileio import atomic_write, require_file

if TYPE_CHECKING:
    import faiss

KMEANS_THRESHOLD = 200_000  # rows above which RVC clusters the features first
KMEANS_CENTRES = 10_000
ADD_BATCH = 8192
MIN_DISTANCE = 1e-12  # floor for squared distances in the (1/d)² weights (see module docstring)
VERSION_OF_DIM = {256: "v1", 768: "v2"}


def ivf_lists(num_rows: int) -> int:
    """RVC's number of inverted lists: max(1, min(int(16·sqrt(N)), N // 39))."""
    return max(1, min(int(16 * np.sqrt(num_rows)), num_rows // 39))


def rvc_index_name(experiment: str, n_ivf: int, version: str) -> str:
    """The file name RVC gives an added index, which its model↔index auto-matching relies on."""
    return f"added_IVF{n_ivf}_Flat_nprobe_1_{experiment}_{version}.index"


def _check_features(features: Any) -> np.ndarray:
    x = np.asarray(features)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise BadInputError(
            f"index features must be a non-empty [rows, dim] array, got shape {x.shape}", "extract features first"
        )
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise BadInputError("index features contain NaN or infinite values", "re-extract the features")
    return x


def build_index(
    features: Any,
    path: str | os.PathLike[str],
    *,
    seed: int = 0,
    kmeans_threshold: int = KMEANS_THRESHOLD,
    kmeans_centres: int = KMEANS_CENTRES,
    kmeans_iters: int = 20,
) -> dict[str, Any]:
    """Build RVC's ``IVF{n},Flat`` index from ``features [N, D]`` and write it atomically to ``path``.

    Rows are shuffled (seeded: the same features give the same file), reduced by k-means above
    ``kmeans_threshold`` rows, then trained on and added in batches of 8192. Returns :func:`describe_index`'s
    dict plus ``rows_in`` (rows before any k-means reduction).
    """
    import faiss

    x = _check_features(features)
    if kmeans_centres < 1 or kmeans_threshold < kmeans_centres:
        raise ConfigError("k-means needs 1 ≤ centres ≤ threshold", f"got {kmeans_centres} and {kmeans_threshold}")
    rows_in = x.shape[0]
    x = x[np.random.default_rng(seed).permutation(rows_in)]
    if rows_in > kmeans_threshold:
        # min_points_per_centroid=1: 200k-390k rows for 10k centres is RVC's normal case, not worth a warning
        km = faiss.Kmeans(
            x.shape[1], kmeans_centres, niter=kmeans_iters, seed=seed, verbose=False, min_points_per_centroid=1
        )
        km.train(x)
        x = np.ascontiguousarray(km.centroids, dtype=np.float32)
    n_ivf = ivf_lists(x.shape[0])
    index = faiss.index_factory(x.shape[1], f"IVF{n_ivf},Flat")
    ivf = faiss.extract_index_ivf(index)
    ivf.nprobe = 1
    ivf.cp.seed = seed
    index.train(x)
    for start in range(0, x.shape[0], ADD_BATCH):
        index.add(x[start : start + ADD_BATCH])
    with atomic_write(path) as tmp:
        faiss.write_index(index, str(tmp))
    return {**_describe(index), "rows_in": rows_in}


def load_index(path: str | os.PathLike[str], expected_dim: int | None = None) -> faiss.Index:
    """Read a faiss index; ``expected_dim`` (the model's feature width) guards v1/v2 mix-ups."""
    import faiss

    p = require_file(path, "index")
    try:
        index = faiss.read_index(str(p))
    except RuntimeError as exc:
        raise BadInputError(
            f"{p.name} is not a faiss index or is damaged",
            "delete it and run `rvclora extract` on its workspace: only the index is rebuilt",
        ) from exc
    if expected_dim is not None and index.d != expected_dim:
        have = VERSION_OF_DIM.get(index.d, f"{index.d}-d")
        want = VERSION_OF_DIM.get(expected_dim, f"{expected_dim}-d")
        raise IncompatibleError(
            f"index {p.name} holds {index.d}-dim features ({have}) but the model needs {expected_dim} ({want})",
            "use the index built for this model's version",
        )
    return index


def index_vectors(index: faiss.Index) -> np.ndarray:
    """All stored vectors ``[ntotal, D]`` (RVC's ``big_npy``), recovered from the index itself."""
    return index.reconstruct_n(0, index.ntotal)


def retrieve(
    index: faiss.Index, big_npy: np.ndarray, feats: np.ndarray, k: int = 8, index_rate: float = 1.0
) -> np.ndarray:
    """RVC's retrieval blend for ``feats [T, D]`` (§8 step 9).

    Each frame's k nearest stored vectors are averaged with weights (1/d)² normalised to 1 (d = squared L2
    distance as faiss reports it, floored at ``MIN_DISTANCE``); the result is mixed as
    ``index_rate·retrieved + (1 − index_rate)·feats``. Neighbours faiss could not fill (id −1, when the
    probed list is short) get weight 0, as their infinite distance gives in RVC; a frame with none keeps
    its own features.
    """
    q = np.ascontiguousarray(feats, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] != index.d:
        raise IncompatibleError(
            f"features of shape {q.shape} do not fit a {index.d}-dim index",
            "use the index built for this model's version",
        )
    if not 0.0 <= index_rate <= 1.0:
        raise ConfigError(f"index rate must be in [0, 1], got {index_rate}")
    if q.shape[0] == 0 or index.ntotal == 0:
        return q.copy()
    score, ids = index.search(q, k)
    valid = ids >= 0
    weight = np.where(valid, np.square(1.0 / np.maximum(score.astype(np.float64), MIN_DISTANCE)), 0.0)
    total = weight.sum(axis=1, keepdims=True)
    weight = np.divide(weight, total, out=np.zeros_like(weight), where=total > 0)
    neighbours = np.asarray(big_npy, dtype=np.float64)[np.where(valid, ids, 0)]  # [T, k, D]
    retrieved = np.einsum("tk,tkd->td", weight, neighbours)
    retrieved = np.where(total > 0, retrieved, q)  # no neighbour found: keep the frame
    return (index_rate * retrieved + (1.0 - index_rate) * q).astype(np.float32)


def _describe(index: faiss.Index) -> dict[str, Any]:
    import faiss

    # downcast/extract return views that do not own the index: ``index`` must stay referenced meanwhile
    concrete = faiss.downcast_index(index)
    info: dict[str, Any] = {
        "ntotal": int(index.ntotal),
        "dim": int(index.d),
        "n_ivf": None,
        "nprobe": None,
        "kind": type(concrete).__name__.removeprefix("Index"),
    }
    try:
        ivf = faiss.extract_index_ivf(index)
    except RuntimeError:  # not an IVF index (e.g. Flat): still usable for retrieval
        return info
    info.update(n_ivf=int(ivf.nlist), nprobe=int(ivf.nprobe))
    if isinstance(concrete, faiss.IndexIVFFlat):
        info["kind"] = f"IVF{ivf.nlist},Flat"
    return info


def describe_index(path: str | os.PathLike[str]) -> dict[str, Any]:
    """ntotal, dim, n_ivf, nprobe, kind and the likely RVC version (by width), for ``rvclora inspect``."""
    index = load_index(path)
    info = _describe(index)
    info["version"] = VERSION_OF_DIM.get(info["dim"])
    info["path"] = str(Path(path))
    return info
