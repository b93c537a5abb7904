"""The quality benchmark's world builder on two sentences: renders, phone labels, a content encoder that
rvclora loads unchanged. Skips cleanly without the benchmark's system packages (the default suite needs none)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

QUALITY = Path(__file__).resolve().parents[2] / "benchmarks" / "quality"

pytestmark = [
    pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed (apt-get install flite)"),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    sys.path.insert(0, str(QUALITY))
    try:
        import world as world_module

        yield world_module, tmp_path_factory.mktemp("quality")
    finally:
        sys.path.remove(str(QUALITY))


def test_world_on_two_sentences(world) -> None:
    pytest.importorskip("pocketsphinx")
    import soundfile as sf

    from rvclora.features.hubert import load_content_encoder

    module, work = world
    renders = module.render_all(work, ["flite_awb", "flite_slt"], 2)
    assert [p.name for p in renders["flite_slt"]] == ["s00.wav", "s01.wav"]
    wav, sr = sf.read(renders["flite_slt"][0], dtype="float32")
    assert sr == 16000 and 1.0 < len(wav) / sr < 6.0 and np.abs(wav).max() > 0.1

    labels = module.labels_all(work, renders)
    lab = labels["flite_awb"][0]
    assert len(lab) == len(sf.read(renders["flite_awb"][0])[0]) // 160 + 1
    assert len(set(lab.tolist()) - {0}) >= 10  # "the birch canoe slid on the smooth planks": many phones

    scale = module.Scale(
        sentences=2,
        convert=1,
        encoder_steps=2,
        base_steps=2,
        sweep_steps=2,
        ranks=(2,),
        presets=("voice",),
        widths=None,
        d_divisor=None,
        batch_size=2,
        f0_method="dio",
    )
    path, info = module.content_encoder(work, renders, labels, scale, seed=0)
    assert info["steps"] == 2
    enc = load_content_encoder(path)  # the hubert_base.pt layout, as --hubert takes it
    feats = np.asarray(enc.extract(wav, "v2"))
    assert feats.shape[1] == 768 and abs(feats.shape[0] - len(wav) / 320) <= 2
    again, _ = module.content_encoder(work, renders, labels, scale, seed=0)  # cached: not trained again
    assert again == path and again.stat().st_mtime == path.stat().st_mtime
