"""Checkpoint I/O: RVC's inference layout written exactly, all layouts read, bad files refused cleanly."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from models_helpers import MODELS

from rvclora.errors import BadInputError, IncompatibleError, UnsafeFileError
from rvclora.models.checkpoint import (
    load_discriminator,
    load_rvc_inference,
    load_synthesizer,
    read_checkpoint_info,
    save_rvc_model,
)
from rvclora.models.discriminator import DiscriminatorS, MultiPeriodDiscriminator
from rvclora.models.shapes import infer_config


class NotATensor:
    """Stands in for arbitrary pickled Python objects."""

    def __init__(self) -> None:
        self.payload = [1, 2, 3]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_export_reproduces_upstream_file(reference_dir: Path, tmp_path: Path, name: str) -> None:
    """Exporting the G file's model gives the reference inference file: same structure, keys, values."""
    model = load_synthesizer(reference_dir / f"{name}.G.pth")
    out = save_rvc_model(model, tmp_path / "model.pth", info="reference")
    ours = torch.load(out, weights_only=True)
    ref = torch.load(reference_dir / f"{name}.pth", weights_only=True)
    assert isinstance(ours, OrderedDict) and list(ours) == ["weight", "config", "info", "sr", "f0", "version"]
    assert type(ours["weight"]) is dict and list(ours["weight"]) == list(ref["weight"])
    assert all(v.dtype == torch.float16 for v in ours["weight"].values())
    assert all(torch.equal(ours["weight"][k], ref["weight"][k]) for k in ref["weight"])
    assert not any("enc_q" in k for k in ours["weight"])
    assert ours["config"] == ref["config"]
    assert [type(v) for v in ours["config"]] == [type(v) for v in ref["config"]]
    for key in ("info", "sr", "f0", "version"):
        assert ours[key] == ref[key] and type(ours[key]) is type(ref[key])


@pytest.mark.slow
@pytest.mark.parametrize("precision, dtype", [("fp16", torch.float16), ("fp32", torch.float32)])
def test_save_load_round_trip(reference_dir: Path, tmp_path: Path, precision: str, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    model = load_synthesizer(reference_dir / "v2_40k_f0_tiny.G.pth")
    with torch.no_grad():  # values that fp16 cannot hold exactly, so fp32 export must keep them
        model.dec.conv_pre.weight.add_(torch.randn_like(model.dec.conv_pre.weight) * 1e-3)
    path = save_rvc_model(model, tmp_path / "out.pth", precision=precision, info="x", sr_label="40k")
    saved = torch.load(path, weights_only=True)
    assert {v.dtype for v in saved["weight"].values()} == {dtype}
    back = load_synthesizer(path)
    upstream = load_rvc_inference(path)
    assert back.config == upstream.config == model.config.replace(segment_size=32)
    for loaded in (back, upstream):
        for k, v in loaded.state_dict().items():
            assert torch.equal(v, model.state_dict()[k].to(dtype).float()), k
    assert not back.has_posterior_encoder and not hasattr(upstream, "enc_q")
    info = read_checkpoint_info(path)
    assert info["kind"] == "rvc-model" and info["dtype"] == str(dtype).replace("torch.", "")
    assert info["sr"] == 40000 and info["version"] == "v2" and info["f0"] == 1 and info["info"] == "x"


def test_save_plain_state_dict(reference_dir: Path, tmp_path: Path) -> None:
    sd = torch.load(reference_dir / "v1_48k_f0_tiny.pth", weights_only=True)["weight"]
    path = save_rvc_model(sd, tmp_path / "plain.pth", sr_label="48k")
    saved = torch.load(path, weights_only=True)
    ref = torch.load(reference_dir / "v1_48k_f0_tiny.pth", weights_only=True)
    assert saved["config"] == ref["config"] and saved["sr"] == "48k" and saved["version"] == "v1"


@pytest.mark.slow
def test_save_refuses_unmerged_or_folded_weights(reference_dir: Path, tmp_path: Path) -> None:
    sd = dict(load_synthesizer(reference_dir / "v2_40k_f0_tiny.pth").state_dict())
    config = load_synthesizer(reference_dir / "v2_40k_f0_tiny.pth").config
    sd["dec.ups.0.lora_A.weight"] = torch.zeros(1)
    with pytest.raises(IncompatibleError, match="non-RVC keys"):
        save_rvc_model(sd, tmp_path / "bad.pth", config=config)
    del sd["dec.ups.0.lora_A.weight"]
    sd["dec.ups.0.weight"] = sd.pop("dec.ups.0.weight_g")
    with pytest.raises(IncompatibleError):
        save_rvc_model(sd, tmp_path / "bad.pth", config=config)
    assert not (tmp_path / "bad.pth").exists()
    assert list(tmp_path.iterdir()) == []


def test_g_file_sample_rate_override_and_ambiguity(reference_dir: Path) -> None:
    sd = torch.load(reference_dir / "v1_48k_f0_tiny.G.pth", weights_only=True)["model"]
    no_q = {k: v for k, v in sd.items() if not k.startswith("enc_q.")}
    assert infer_config(no_q).sr == 48000  # NSF noise convs reveal the upsample rates
    nono_like = {k: v for k, v in no_q.items() if not k.startswith(("dec.noise_convs", "dec.m_source"))}
    nono_like.pop("enc_p.emb_pitch.weight")
    with pytest.raises(IncompatibleError, match="sample rate"):
        infer_config(nono_like)  # [16,16,4,4,4] kernels fit both v1-32k and v1-48k
    assert infer_config(nono_like, sr="48k").upsample_rates == [10, 6, 2, 2, 2]
    assert infer_config(nono_like, sr="32k").upsample_rates == [10, 4, 2, 2, 2]


def test_wrong_override_is_incompatible(reference_dir: Path) -> None:
    with pytest.raises(IncompatibleError, match="do not fit"):
        load_synthesizer(reference_dir / "v2_40k_f0_tiny.pth", version="v1")


@pytest.mark.slow
def test_discriminator_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    with torch.device("meta"):
        shapes = MultiPeriodDiscriminator("v1").state_dict()
    sd = {k: torch.zeros(v.shape, dtype=torch.float16) for k, v in shapes.items()}  # zeros: cheap to write
    sd["discriminators.6.conv_post.weight_v"] = torch.randn(1, 1024, 3, 1, dtype=torch.float16)
    torch.save({"model": sd, "iteration": 3}, tmp_path / "D_1.pth")
    model = load_discriminator(tmp_path / "D_1.pth")
    assert model.version == "v1" and isinstance(model.discriminators[0], DiscriminatorS)
    assert torch.equal(
        model.state_dict()["discriminators.6.conv_post.weight_v"], sd["discriminators.6.conv_post.weight_v"].float()
    )
    with pytest.raises(IncompatibleError, match="v1 discriminator"):
        load_discriminator(tmp_path / "D_1.pth", version="v2")
    info = read_checkpoint_info(tmp_path / "D_1.pth")
    assert info["kind"] == "rvc-train-D" and info["version"] == "v1" and info["epoch"] == 3
    assert info["n_params"] == 54968286 and info["dtype"] == "float16"
    with pytest.raises(BadInputError, match="discriminator"):
        load_synthesizer(tmp_path / "D_1.pth")


def test_training_checkpoint_layout(reference_dir: Path, tmp_path: Path) -> None:
    """G_<step>.pth: model (DDP-prefixed here) + optimizer + iteration + learning_rate."""
    sd = torch.load(reference_dir / "v2_32k_nof0_tiny.G.pth", weights_only=True)["model"]
    ckpt = {
        "model": {f"module.{k}": v for k, v in sd.items()},
        "iteration": 7,
        "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0]}]},
        "learning_rate": 1e-4,
    }
    torch.save(ckpt, tmp_path / "G_70.pth")
    model = load_synthesizer(tmp_path / "G_70.pth")
    assert model.has_posterior_encoder and not model.config.f0 and model.config.sr == 32000
    info = read_checkpoint_info(tmp_path / "G_70.pth")
    assert info["kind"] == "rvc-train-G" and info["epoch"] == 7 and info["has_enc_q"]
    with pytest.raises(BadInputError, match="generator"):
        load_discriminator(tmp_path / "G_70.pth")


def test_bad_files(reference_dir: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes((reference_dir / "v2_40k_f0_tiny.pth").read_bytes()[:5000])
    with pytest.raises(BadInputError, match="truncated"):
        load_synthesizer(truncated)
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    with pytest.raises(BadInputError):
        load_synthesizer(text)
    with pytest.raises(BadInputError, match="not found"):
        load_synthesizer(tmp_path / "missing.pth")
    other = tmp_path / "other.pth"
    torch.save({"state": {"w": torch.zeros(2)}}, other)
    with pytest.raises(BadInputError, match="not an RVC"):
        load_synthesizer(other)
    assert read_checkpoint_info(other)["kind"] == "unknown"
    evil = tmp_path / "object.pth"
    torch.save({"weight": NotATensor(), "config": []}, evil)
    with pytest.raises(UnsafeFileError, match="NotATensor"):
        load_synthesizer(evil)
    with pytest.raises(UnsafeFileError):
        read_checkpoint_info(evil)
    broken = tmp_path / "broken_config.pth"
    ref = torch.load(reference_dir / "v2_40k_f0_tiny.pth", weights_only=True)
    torch.save({**ref, "config": ref["config"][:5]}, broken)
    with pytest.raises(BadInputError, match="18 items"):
        load_synthesizer(broken)
    with pytest.raises(IncompatibleError):
        load_rvc_inference(broken)


@pytest.mark.slow
def test_narrow_discriminator_round_trip_keeps_width(tmp_path) -> None:
    """A narrow D file loads as the same narrow architecture (width read from shapes), scores unchanged."""
    import torch

    from rvclora.models.checkpoint import load_discriminator
    from rvclora.models.discriminator import MultiPeriodDiscriminator

    torch.manual_seed(0)
    for divisor in (2, 16, 128):
        narrow = MultiPeriodDiscriminator("v2", width_divisor=divisor)
        torch.save({"model": narrow.state_dict()}, tmp_path / "D.pth")
        assert load_discriminator(tmp_path / "D.pth", "v2").width_divisor == divisor
    d = MultiPeriodDiscriminator("v2", width_divisor=16)
    torch.save({"model": d.state_dict()}, tmp_path / "D.pth")
    loaded = load_discriminator(tmp_path / "D.pth", "v2")
    assert loaded.width_divisor == 16 and len(loaded.discriminators) == 9
    y, y_hat = torch.randn(1, 1, 4000), torch.randn(1, 1, 4000)
    with torch.no_grad():
        for a, b in zip(d(y, y_hat)[0], loaded(y, y_hat)[0], strict=True):
            assert torch.equal(a, b)
