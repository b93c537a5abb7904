"""Adapter files written by older rvclora keep loading: same metadata, same merged weights.

The fixtures in tests/fixtures/adapters/ were written once by the code of commit 10a5d67 (make_fixtures.py
there says how); expected.json holds the merged-weight figures that code computed from them.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from rvclora.lora.adapter import read_adapter

FIXTURES = Path(__file__).parent / "fixtures" / "adapters"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
FINGERPRINT = "f6b55ba206777a7ef666dcc8781760f8c2fd81636c0a6b2c626c0c5c846e1b84"


def _maker():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(EXPECTED["merged"]))
def test_old_adapter_merges_as_it_did(reference_dir: Path, name: str) -> None:
    figures = _maker().merged_figures(reference_dir / EXPECTED["base"], FIXTURES / name)
    expected = EXPECTED["merged"][name]
    assert figures.keys() == expected.keys()
    for key, values in expected.items():
        assert figures[key] == pytest.approx(values, rel=1e-5, abs=1e-7), key


def test_old_trained_adapter_metadata() -> None:
    _, meta = read_adapter(FIXTURES / "trained.safetensors")
    assert meta["config"]["rank"] == 2 and meta["config"]["alpha"] == 4.0 and meta["scale"] == 2.0
    assert meta["unvoiced_f0"] == "fill" and meta["base_fingerprint"] == FINGERPRINT
    assert meta["rvc"] == {"version": "v2", "sr": 40000, "f0": True}
    assert meta["layers"]["dec.cond"] == "conv1d" and meta["conv_transpose_order"]["dec.ups.0"] == "pointwise_first"
    assert meta["info"]["base_path"] == "/home/old/rvc/base.pth" and meta["info"]["training"]["steps"] == 8


def test_old_blend_metadata() -> None:
    _, meta = read_adapter(FIXTURES / "blend.pth")
    assert meta["config"]["rank"] == 4 and meta["scale"] == 1.0 and meta["unvoiced_f0"] == "fill"
    assert [part["weight"] for part in meta["info"]["blend"]] == [0.7, 0.3]


def test_old_compressed_metadata() -> None:
    tensors, meta = read_adapter(FIXTURES / "compressed.safetensors")
    ranks = {"dec.ups.0": 30, "dec.ups.1": 15, "dec.ups.2": 8, "dec.ups.3": 4, "dec.cond": 6}
    assert meta["ranks"] == ranks and meta["config"]["rank"] == 30 and meta["scale"] == 1.0
    assert {p: tensors[f"{p}.lora_A"].shape[0] for p in ranks} == ranks
