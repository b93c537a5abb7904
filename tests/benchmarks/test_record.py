"""The benchmarks' ``--json`` recorder: figures from several scripts and runs add up in one strict JSON file."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

RECORD = Path(__file__).resolve().parents[2] / "benchmarks" / "_record.py"


def _record_module():
    spec = importlib.util.spec_from_file_location("bench_record", RECORD)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_figures_merge_across_runs_and_nan_becomes_null(tmp_path: Path) -> None:
    rec = _record_module()
    path = tmp_path / "gpu.json"
    rec.record(path, "train", {"batch8": {"peak_gib": math.nan, "items_per_s": 12.5}})
    rec.record(path, "realtime_latency", {"block 0.1 s": {"total_s": 0.12}})
    rec.record(path, "realtime_latency", {"block 0.25 s": {"total_s": 0.3}})
    data = json.loads(path.read_text())  # strict JSON: NaN would not round-trip through other readers
    assert data["torch"] and "device" in data and "cuda" in data  # the environment is written once
    assert data["train"] == {"batch8": {"peak_gib": None, "items_per_s": 12.5}}
    assert set(data["realtime_latency"]) == {"block 0.1 s", "block 0.25 s"}
    assert "NaN" not in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["gpu.json"]  # no temporary file left behind


def test_no_path_writes_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _record_module().record(None, "train", {"x": 1})
    assert list(tmp_path.iterdir()) == []
