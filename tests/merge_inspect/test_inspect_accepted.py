"""`rvclora inspect` recognises every model file some command accepts (each is also loaded by its loader here)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers_hubert import tiny_hf_state

from rvclora.features.hubert import load_content_encoder
from rvclora.features.hubert_load import FairseqDictionary
from rvclora.inspect.stage import describe


def _fixture_hubert(reference_dir: Path) -> dict:
    with torch.serialization.safe_globals([FairseqDictionary]):
        return torch.load(reference_dir / "hubert_tiny_fairseq.pt", weights_only=True)


def test_the_demo_content_encoder(tmp_path: Path) -> None:
    from rvclora.demo.assets import build_tiny_hubert

    path = build_tiny_hubert(tmp_path / "demo_hubert_base.pt", "v2", layers=2)
    assert load_content_encoder(path).dim("v2") == 768  # extract and train accept it
    desc = describe(path)
    assert (desc["kind"], desc["layout"], desc["architecture"]["num_layers"]) == ("hubert", "fairseq", 2)


@pytest.mark.parametrize(
    "form", ["fairseq without its label dictionary", "Hugging Face state under hubert.", "bare Hugging Face state"]
)
def test_content_encoder_layouts_the_loader_accepts(tmp_path: Path, reference_dir: Path, form: str) -> None:
    if form.startswith("fairseq"):
        ckpt = _fixture_hubert(reference_dir)
        del ckpt["task_state"]
        obj: dict = ckpt
    else:
        hf = tiny_hf_state(reference_dir / "hubert_tiny_fairseq.pt", parametrized=True)
        obj = {f"hubert.{k}": v for k, v in hf.items()} if "under" in form else hf
    path = tmp_path / "hubert.pt"
    torch.save(obj, path)
    assert load_content_encoder(path).dim("v2") == 32
    assert describe(path)["kind"] == "hubert"


def test_the_demo_base_and_discriminator(tmp_path: Path) -> None:
    from rvclora.demo.assets import build_base, tiny_config
    from rvclora.models.checkpoint import load_discriminator, load_synthesizer

    g, d = build_base(tmp_path / "G.pth", tmp_path / "D.pth", tiny_config(), seed=0)
    assert d is not None
    load_synthesizer(g)
    load_discriminator(d, "v2")
    assert (describe(g)["kind"], describe(d)["kind"]) == ("rvc-train-G", "rvc-train-D")
