"""Manifest.batched: fewer writes of the manifest file, with every recorded entry still reaching the disk."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rvclora.audio.preprocess import PreprocessParams, find_sources, preprocess
from rvclora.workspace import manifest as manifest_mod
from rvclora.workspace.manifest import Manifest

NEVER = 3600.0  # max_seconds that no test reaches


@pytest.fixture
def saves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts manifest writes: each entry is how many entries the written manifest held."""
    real, counts = Manifest.save, []

    def counting(self: Manifest) -> None:
        counts.append(sum(len(v) for v in self._data.values()))
        real(self)

    monkeypatch.setattr(Manifest, "save", counting)
    return counts


def _files(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"{i}.wav").write_bytes(b"x" * (i + 1))
    return [folder / f"{i}.wav" for i in range(n)]


def _manifest(root: Path) -> Manifest:
    return Manifest(root / ".rvclora" / "manifest.json", root, output_folders=("in", "clips"))


def _record_all(m: Manifest, files: list[Path]) -> None:
    for f in files:
        m.record("stage", f.stem, [f], {"s": 1}, [f])


def test_outside_a_block_every_change_is_written(tmp_path: Path, saves: list[int]) -> None:
    m = _manifest(tmp_path)
    _record_all(m, _files(tmp_path / "in", 3))
    m.forget("stage", "0")
    assert saves == [1, 2, 3, 2]


def test_one_write_per_block_and_a_fresh_load_sees_every_entry(tmp_path: Path, saves: list[int]) -> None:
    files = _files(tmp_path / "in", 20)
    m = _manifest(tmp_path)
    with m.batched(max_pending=1000, max_seconds=NEVER):
        _record_all(m, files)
        m.forget("stage", "19")
        assert saves == [] and not m.path.exists()
    assert saves == [19]
    again = _manifest(tmp_path)
    assert again.keys("stage") == sorted(str(i) for i in range(19))
    assert all(again.is_fresh("stage", f.stem, [f], {"s": 1}) for f in files[:19])


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_block_still_writes_what_it_recorded(
    tmp_path: Path, saves: list[int], exc: type[BaseException]
) -> None:
    files = _files(tmp_path / "in", 5)
    m = _manifest(tmp_path)
    with pytest.raises(exc), m.batched(max_pending=1000, max_seconds=NEVER):
        _record_all(m, files[:3])
        raise exc
    assert saves == [3] and _manifest(tmp_path).keys("stage") == ["0", "1", "2"]
    _record_all(m, files[3:])  # the block is closed: back to writing at once
    assert saves == [3, 4, 5]


def test_max_pending_writes_in_between(tmp_path: Path, saves: list[int]) -> None:
    files = _files(tmp_path / "in", 7)
    m = _manifest(tmp_path)
    with m.batched(max_pending=3, max_seconds=NEVER):
        _record_all(m, files[:4])
        assert _manifest(tmp_path).keys("stage") == ["0", "1", "2"]  # on disk mid-block
        _record_all(m, files[4:])
    assert saves == [3, 6, 7]


def test_max_seconds_writes_once_the_oldest_change_is_that_old(
    tmp_path: Path, saves: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [100.0]
    monkeypatch.setattr(manifest_mod.time, "monotonic", lambda: clock[0])
    files = _files(tmp_path / "in", 4)
    m = _manifest(tmp_path)
    with m.batched(max_pending=1000, max_seconds=5.0):
        for f, t in zip(files, (100.0, 104.0, 105.0, 109.0), strict=True):
            clock[0] = t
            _record_all(m, [f])
        assert saves == [3]  # at 105 the change of 100 was 5 s old; the one of 109 is still young
    assert saves == [3, 4]


def test_nested_blocks_use_the_tightest_limit_and_each_exit_writes(tmp_path: Path, saves: list[int]) -> None:
    files = _files(tmp_path / "in", 8)
    m = _manifest(tmp_path)
    with m.batched(max_pending=1000, max_seconds=NEVER):
        _record_all(m, files[:2])
        with m.batched(max_pending=2, max_seconds=NEVER):
            _record_all(m, files[2:6])
            assert saves == [3, 5]  # the inner limit counts the outer block's pending changes too
        assert saves == [3, 5, 6]  # the inner exit
        _record_all(m, files[6:])
        assert saves == [3, 5, 6]  # the outer limit again
    assert saves == [3, 5, 6, 8] and len(_manifest(tmp_path).keys("stage")) == 8


def test_a_block_hashes_each_input_once_and_still_sees_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[Path] = []
    real = manifest_mod.fingerprint
    monkeypatch.setattr(manifest_mod, "fingerprint", lambda p: hashed.append(p) or real(p))
    src = _files(tmp_path / "in", 1)[0]
    m = _manifest(tmp_path)
    with m.batched():
        assert not m.is_fresh("a", "k", [src], {}) and not m.is_fresh("b", "k", [src], {})
        m.record("a", "k", [src], {}, [])
        m.record("b", "k", [src], {}, [])
        assert m.is_fresh("a", "k", [src], {}) and hashed == [src]
        tmp = src.with_suffix(".tmp")
        tmp.write_bytes(b"y")  # same size, new content, replaced the way atomic_write does
        os.replace(tmp, src)
        assert not m.is_fresh("a", "k", [src], {}) and len(hashed) == 2
        st = src.stat()
        m.record("a", "k", [src], {}, [])
        src.write_bytes(b"z")  # rewritten in place: the mtime moves (set here: a test outruns the clock tick)
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        assert not m.is_fresh("a", "k", [src], {}) and len(hashed) == 3
    m.is_fresh("a", "k", [src], {})
    assert len(hashed) == 4  # outside a block: no memory


def test_preprocess_writes_the_manifest_once_for_many_sources(tmp_path: Path, saves: list[int]) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    t = np.arange(32000) / 32000
    for i in range(6):
        sf.write(raw / f"s{i}.wav", (0.5 * np.sin(2 * np.pi * (200 + 20 * i) * t)).astype(np.float32), 32000)
    m = _manifest(tmp_path)
    summary = preprocess(
        find_sources(raw),
        sr=32000,
        clips_dir=tmp_path / "clips" / "32k",
        clips_16k_dir=tmp_path / "clips" / "16k",
        params=PreprocessParams(),
        manifest=m,
    )
    assert summary.processed == 6 and summary.clips == 6
    assert saves == [6] and len(_manifest(tmp_path).keys("preprocess")) == 6
