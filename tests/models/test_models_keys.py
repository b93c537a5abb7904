"""Full-size models: every state_dict key, shape and order equals upstream's dumps (spec/keys/*.tsv)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rvclora.models.config import standard_config
from rvclora.models.discriminator import MultiPeriodDiscriminator
from rvclora.models.synthesizer import build_synthesizer


@pytest.fixture(scope="module")
def keys_dir(reference_dir: Path) -> Path:
    found = reference_dir.parents[1] / "spec/keys"
    assert found.is_dir(), f"upstream key lists not found at {found}"
    return found


def _read_tsv(path: Path) -> tuple[list[tuple[str, list[int]]], dict[str, int]]:
    rows, totals = [], {}
    for line in path.read_text().splitlines():
        parts = line.split("\t")
        if line.startswith("#"):
            totals[parts[0][1:]] = int(parts[1])
        elif line:
            rows.append((parts[0], [int(n) for n in parts[1].strip("[]").split(",") if n.strip()]))
    return rows, totals


def _dump(model: torch.nn.Module) -> list[tuple[str, list[int]]]:
    return [(k, list(v.shape)) for k, v in model.state_dict().items()]


GENERATORS = [
    "G_v1_32k_f0",
    "G_v1_40k_f0",
    "G_v1_40k_nof0",
    "G_v1_48k_f0",
    "G_v2_32k_f0",
    "G_v2_40k_f0",
    "G_v2_40k_nof0",
    "G_v2_48k_f0",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", GENERATORS)
def test_generator_keys_shapes_order(keys_dir: Path, name: str) -> None:
    _, version, rate, pitch = name.split("_")
    rows, totals = _read_tsv(keys_dir / f"{name}.tsv")
    with torch.device("meta"):
        model = build_synthesizer(standard_config(version, rate, pitch == "f0"))
    assert _dump(model) == rows
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == totals["TOTAL_PARAMS"]
    model.remove_posterior_encoder()
    assert sum(p.numel() for p in model.parameters()) == totals["PARAMS_EXCL_ENC_Q"]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_discriminator_keys_shapes_order(keys_dir: Path, version: str) -> None:
    rows, totals = _read_tsv(keys_dir / f"D_{version}.tsv")
    with torch.device("meta"):
        model = MultiPeriodDiscriminator(version)
    assert _dump(model) == rows
    assert sum(p.numel() for p in model.parameters()) == totals["TOTAL_PARAMS"]


def test_full_size_v2_discriminator_builds_on_cpu(keys_dir: Path) -> None:
    """Once for real (71 M parameters): weight norm initialises g = ‖v‖ so the effective weight is v."""
    model = MultiPeriodDiscriminator("v2")
    conv = model.discriminators[8].convs[3]
    assert torch.allclose(conv.weight, conv.weight_v, atol=1e-6)
    rows, _ = _read_tsv(keys_dir / "D_v2.tsv")
    assert _dump(model) == rows
