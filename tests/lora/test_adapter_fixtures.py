"""Adapter files written by older rvclora keep loading: same metadata, same merged weights.

The fixtures in tests/lora/fixtures/adapters/ were written once by the code of commit 10a5d67 (make_fixtures.py
there says how); expected.json holds the merged-weight figures that code computed from them.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from safetensors import safe_open

from rvclora.errors import BadInputError
from rvclora.lora.adapter import META_KEY, load_lora, portable_info, read_adapter, save_lora
from rvclora.lora.meta import AdapterMeta, RvcIdentity
from rvclora.models.checkpoint import load_synthesizer

FIXTURES = Path(__file__).parent / "fixtures" / "adapters"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
FINGERPRINT = "f6b55ba206777a7ef666dcc8781760f8c2fd81636c0a6b2c626c0c5c846e1b84"


def _maker():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED["merged"]))
def test_old_adapter_merges_as_it_did(reference_dir: Path, name: str) -> None:
    figures = _maker().merged_figures(reference_dir / EXPECTED["base"], FIXTURES / name)
    expected = EXPECTED["merged"][name]
    assert figures.keys() == expected.keys()
    for key, values in expected.items():
        assert figures[key] == pytest.approx(values, rel=1e-5, abs=1e-7), key


def test_old_trained_adapter_metadata() -> None:
    _, meta = read_adapter(FIXTURES / "trained.safetensors")
    assert meta.config.rank == 2 and meta.config.alpha == 4.0 and meta.scale == 2.0 and not meta.config.rank_pattern
    assert meta.unvoiced_f0 == "fill" and meta.base_fingerprint == FINGERPRINT and meta.format_version == 1
    assert meta.rvc == RvcIdentity(version="v2", sr=40000, f0=True) and meta.dtype == "float16"
    assert meta.layers["dec.cond"] == "conv1d" and meta.conv_transpose_order["dec.ups.0"] == "pointwise_first"
    assert meta.info["training"]["steps"] == 8 and meta.created == "2026-11-29T22:08:54Z"
    assert meta.recorded_base == "/home/old/rvc/base.pth"  # an older name of the base key
    assert not meta.extra


def test_old_blend_metadata() -> None:
    _, meta = read_adapter(FIXTURES / "blend.pth")
    assert meta.config.rank == 4 and meta.scale == 1.0 and meta.unvoiced_f0 == "fill" and not meta.config.rank_pattern
    assert [part["weight"] for part in meta.info["blend"]] == [0.7, 0.3]


def test_old_compressed_ranks_move_into_the_config() -> None:
    tensors, meta = read_adapter(FIXTURES / "compressed.safetensors")
    ranks = {"dec.ups.0": 30, "dec.ups.1": 15, "dec.ups.2": 8, "dec.ups.3": 4, "dec.cond": 6}
    assert {p: tensors[f"{p}.lora_A"].shape[0] for p in ranks} == ranks
    assert meta.config.rank == 30 and {p: meta.config.rank_for(p) for p in ranks} == ranks
    assert meta.config.rank_pattern == {p: r for p, r in ranks.items() if r != 30}
    assert all(meta.layer_scale(p) == 1.0 for p in ranks) and "ranks" not in meta.extra


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED["merged"]))
def test_old_adapter_resaves_as_old_rvclora_reads_it(reference_dir: Path, tmp_path: Path, name: str) -> None:
    """Load → save keeps the metadata (info, convention, provenance) and format version 1; the new file merges
    exactly as the old one did."""
    _, old = read_adapter(FIXTURES / name)
    model = load_synthesizer(reference_dir / EXPECTED["base"])
    load_lora(model, FIXTURES / name)
    out = save_lora(model, tmp_path / "again.safetensors")
    text = json.loads(safe_open(str(out), framework="pt").metadata()[META_KEY])
    assert text["format_version"] == 1 and "ranks" not in text
    _, new = read_adapter(out)
    assert (new.config, new.scale, new.layers, new.unvoiced_f0, new.info) == (
        old.config,
        old.scale,
        old.layers,
        old.unvoiced_f0,
        portable_info(old.info),  # as before: absolute paths leave as file names
    )
    figures = _maker().merged_figures(reference_dir / EXPECTED["base"], out)
    for key, values in EXPECTED["merged"][name].items():
        assert figures[key] == pytest.approx(values, rel=1e-5, abs=1e-7), key


def test_unknown_keys_round_trip_and_malformed_metadata_is_one_line(tmp_path: Path) -> None:
    tensors, meta = read_adapter(FIXTURES / "compressed.safetensors")
    data = {**meta.to_dict(), "from_the_future": [1, {"a": 2}]}
    again = AdapterMeta.from_json(json.dumps(data))
    assert again.extra == {"from_the_future": [1, {"a": 2}]} and again.to_dict() == data
    from safetensors.torch import save_file

    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata={META_KEY: json.dumps({**data, "scale": "big"})})
    with pytest.raises(BadInputError, match="malformed metadata"):
        read_adapter(tmp_path / "bad.safetensors")
