"""Retrieval index: RVC's size rule, k-means reduction, retrieval formula against brute force, refusals."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from rvclora.errors import BadInputError, IncompatibleError, OutputError
from rvclora.features.index import (
    build_index,
    describe_index,
    index_vectors,
    ivf_lists,
    load_index,
    retrieve,
    rvc_index_name,
)


def _features(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def _blend(q: np.ndarray, big: np.ndarray, ids: list[np.ndarray], k: int, rate: float) -> np.ndarray:
    """Brute force: per frame the k nearest of the candidate rows, weights (1/d²)² normalised (d² = squared L2)."""
    out = np.empty_like(q, dtype=np.float64)
    for t, cand in enumerate(ids):
        dist = ((big[cand].astype(np.float64) - q[t]) ** 2).sum(axis=1)
        near = np.argsort(dist)[:k]
        w = 1.0 / dist[near] ** 2
        retrieved = (w[:, None] * big[cand][near]).sum(axis=0) / w.sum()
        out[t] = rate * retrieved + (1 - rate) * q[t]
    return out


def test_ivf_list_count_follows_rvc() -> None:
    # max(1, min(int(16·sqrt(N)), N // 39)), by hand
    assert ivf_lists(10) == 1  # N // 39 = 0, floored at 1
    assert ivf_lists(100) == 2
    assert ivf_lists(10_000) == 256  # 16·100 = 1600 > 256
    assert ivf_lists(1_000_000) == 16_000  # 16·1000 = 16000 < 25641
    assert rvc_index_name("alice", 256, "v2") == "added_IVF256_Flat_nprobe_1_alice_v2.index"


def test_build_writes_rvc_index(tmp_path: Path) -> None:
    x = _features(500)
    summary = build_index(x, tmp_path / "a.index")
    assert summary == {"ntotal": 500, "dim": 16, "n_ivf": 12, "nprobe": 1, "kind": "IVF12,Flat", "rows_in": 500}
    info = describe_index(tmp_path / "a.index")
    assert {k: info[k] for k in ("ntotal", "dim", "n_ivf", "nprobe", "kind")} == {
        "ntotal": 500,
        "dim": 16,
        "n_ivf": 12,
        "nprobe": 1,
        "kind": "IVF12,Flat",
    }
    # RVC recovers big_npy from the index: every input row is there once (shuffled order)
    stored = index_vectors(load_index(tmp_path / "a.index"))
    assert not np.array_equal(stored, x)
    np.testing.assert_array_equal(np.sort(stored, axis=0), np.sort(x, axis=0))
    assert [p.name for p in tmp_path.iterdir()] == ["a.index"]  # no temporary file left


def test_large_sets_are_reduced_to_kmeans_centres(tmp_path: Path) -> None:
    x = _features(1200)
    summary = build_index(x, tmp_path / "k.index", kmeans_threshold=1000, kmeans_centres=80)
    assert summary["rows_in"] == 1200 and summary["ntotal"] == 80
    assert summary["n_ivf"] == ivf_lists(80) == 2  # the rule applies to the reduced set, as in RVC
    centres = index_vectors(load_index(tmp_path / "k.index"))

    # k-means centres summarise the data better than the same number of input rows would
    def mean_sq_dist_to_nearest(c: np.ndarray) -> float:
        return float(((x[:, None, :] - c[None]) ** 2).sum(axis=2).min(axis=1).mean())

    assert mean_sq_dist_to_nearest(centres) < 0.85 * mean_sq_dist_to_nearest(x[:80])
    small = build_index(x[:1000], tmp_path / "s.index", kmeans_threshold=1000, kmeans_centres=80)
    assert small["ntotal"] == 1000  # at the threshold: no reduction


def test_retrieval_matches_brute_force_exhaustive(tmp_path: Path) -> None:
    big_in, queries = _features(800, seed=1), _features(40, seed=2)
    build_index(big_in, tmp_path / "r.index")
    index = load_index(tmp_path / "r.index", expected_dim=16)
    faiss.extract_index_ivf(index).nprobe = ivf_lists(800)  # search every list: exact k-NN
    big = index_vectors(index)
    got = retrieve(index, big, queries, k=8, index_rate=0.6)
    want = _blend(queries, big, [np.arange(len(big))] * len(queries), 8, 0.6)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_retrieval_matches_brute_force_with_nprobe_1(tmp_path: Path) -> None:
    big_in, queries = _features(800, seed=3), _features(40, seed=4)
    build_index(big_in, tmp_path / "r.index")
    index = load_index(tmp_path / "r.index")
    big = index_vectors(index)
    ivf = faiss.extract_index_ivf(index)
    centroids = ivf.quantizer.reconstruct_n(0, ivf.nlist)

    def nearest_list(v: np.ndarray) -> np.ndarray:
        return ((v[:, None, :].astype(np.float64) - centroids[None]) ** 2).sum(axis=2).argmin(axis=1)

    lists_of_rows, lists_of_queries = nearest_list(big), nearest_list(queries)
    candidates = [np.flatnonzero(lists_of_rows == lst) for lst in lists_of_queries]
    got = retrieve(index, big, queries, k=8)
    np.testing.assert_allclose(got, _blend(queries, big, candidates, 8, 1.0), atol=1e-5)


def test_exact_matches_do_not_give_nan(tmp_path: Path) -> None:
    x = _features(400, seed=5)
    x[1] = x[0]  # a duplicate row: two zero distances for that query
    build_index(x, tmp_path / "z.index")
    index = load_index(tmp_path / "z.index")
    big = index_vectors(index)
    got = retrieve(index, big, x[:5], k=8)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, x[:5], atol=1e-5)  # all weight goes to the exact match


def test_unfilled_neighbours_are_ignored(tmp_path: Path) -> None:
    x = _features(40, seed=6)  # one list of 40 rows; ask for more neighbours than exist
    build_index(x, tmp_path / "f.index")
    index = load_index(tmp_path / "f.index")
    big = index_vectors(index)
    q = _features(3, seed=7)
    got = retrieve(index, big, q, k=64)
    np.testing.assert_allclose(got, _blend(q, big, [np.arange(40)] * 3, 64, 1.0), atol=1e-5)


def test_dimension_mismatch_is_incompatible(tmp_path: Path) -> None:
    build_index(_features(100, d=256), tmp_path / "v1.index")
    with pytest.raises(IncompatibleError, match=r"256-dim features \(v1\) but the model needs 768 \(v2\)"):
        load_index(tmp_path / "v1.index", expected_dim=768)
    index = load_index(tmp_path / "v1.index", expected_dim=256)
    with pytest.raises(IncompatibleError):
        retrieve(index, index_vectors(index), _features(5, d=768))


def test_bad_inputs_are_user_errors(tmp_path: Path) -> None:
    (tmp_path / "junk.index").write_bytes(b"not faiss")
    with pytest.raises(BadInputError, match="not a faiss index"):
        load_index(tmp_path / "junk.index")
    with pytest.raises(BadInputError, match="not found"):
        describe_index(tmp_path / "missing.index")
    bad = _features(100)
    bad[3, 3] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        build_index(bad, tmp_path / "nan.index")
    with pytest.raises(BadInputError, match="rows, dim"):
        build_index(np.zeros(10, np.float32), tmp_path / "flat.index")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError):
        build_index(_features(100), tmp_path / "file" / "x.index")
    assert not (tmp_path / "nan.index").exists() and not (tmp_path / "flat.index").exists()
