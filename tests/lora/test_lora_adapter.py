"""Adapter files, fingerprints, refusal of a wrong base, and exact blending of several adapters."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import torch
from helpers_lora import TinyRVC, randomize_adapter, tiny_inputs, tiny_model
from safetensors import safe_open

from rvclora.errors import BadInputError, ConfigError, IncompatibleError, RvcloraWarning
from rvclora.lora.adapter import attach_adapter, load_lora, read_adapter, save_lora, write_adapter
from rvclora.lora.config import LoRAConfig
from rvclora.lora.fingerprint import base_fingerprint
from rvclora.lora.inject import add_lora, lora_layers
from rvclora.lora.layers import POINTWISE_FIRST
from rvclora.lora.merge import blend_adapters, merge_weighted
from rvclora.lora.meta import RvcIdentity
from rvclora.lora.weights import effective_weight


def trained(seed: int, targets: str = "all", rank: int = 3, alpha: float = 6.0) -> TinyRVC:
    """A base (always seed 0) with a random non-zero adapter (seeded by ``seed``)."""
    model = tiny_model(0)
    add_lora(model, LoRAConfig(rank=rank, alpha=alpha, targets=targets))
    randomize_adapter(model, seed)
    return model


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_save_load_exact_fp32(tmp_path: Path, suffix: str) -> None:
    model = trained(1)
    path = save_lora(model, tmp_path / f"voice{suffix}", dtype=torch.float32, epochs=3, note="hi")
    fresh = tiny_model(0)
    meta = load_lora(fresh, path)
    x = tiny_inputs()
    assert torch.equal(fresh(*x), model(*x))
    ours = dict(lora_layers(fresh))
    for p, layer in lora_layers(model):
        assert torch.equal(ours[p].lora_A, layer.lora_A) and torch.equal(ours[p].lora_B, layer.lora_B)
        assert ours[p].scale == layer.scale == 2.0
    assert torch.equal(fresh.emb_g.weight, model.emb_g.weight)
    assert meta.info == {"epochs": 3, "note": "hi"}


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_default_fp16_storage_rounds_only(tmp_path: Path, suffix: str) -> None:
    model = trained(1)
    tensors, meta = read_adapter(save_lora(model, tmp_path / f"a{suffix}"))
    assert meta.dtype == "float16"
    for p, layer in lora_layers(model):
        assert tensors[f"{p}.lora_A"].dtype == torch.float16
        assert torch.equal(tensors[f"{p}.lora_B"], layer.lora_B.detach().half())
    assert torch.equal(tensors["full.emb_g.weight"], model.emb_g.weight.detach().half())


def test_metadata_describes_the_adapter(tmp_path: Path) -> None:
    model = trained(1, targets="voice", rank=4, alpha=8.0)
    tensors, meta = read_adapter(save_lora(model, tmp_path / "a.safetensors", dtype=torch.float32))
    assert meta.to_dict()["format"] == "rvclora.lora" and meta.format_version == 1
    assert meta.config == LoRAConfig(rank=4, alpha=8.0, targets="voice")
    assert meta.scale == 2.0
    assert meta.rvc == RvcIdentity(version="v2", sr=40000, f0=True)
    assert meta.base_fingerprint == base_fingerprint(tiny_model(0))
    assert meta.conv_transpose_order == {"dec.ups.0": POINTWISE_FIRST}
    assert meta.layers["dec.ups.0"] == "conv_transpose1d" and meta.layers["dec.cond"] == "conv1d"
    assert meta.params == sum(t.numel() for t in tensors.values())
    assert meta.created and datetime.fromisoformat(meta.created.replace("Z", "+00:00")).tzinfo is not None
    assert set(tensors) == {f"{p}.lora_{f}" for p in meta.layers for f in "AB"} | {"full.emb_g.weight"}


def test_unknown_metadata_keys_survive_load_and_resave(tmp_path: Path) -> None:
    tensors, meta = read_adapter(save_lora(trained(1), tmp_path / "a.pth"))
    meta.extra["from_the_future"] = {"x": [1, 2]}
    write_adapter(tmp_path / "b.safetensors", tensors, meta)
    model = tiny_model(0)
    assert load_lora(model, tmp_path / "b.safetensors").extra["from_the_future"] == {"x": [1, 2]}
    _, again = read_adapter(save_lora(model, tmp_path / "c.safetensors"))
    assert again.extra["from_the_future"] == {"x": [1, 2]} and again.to_dict()["from_the_future"] == {"x": [1, 2]}


def test_fingerprint_stable_across_fp16_fp32_and_forms() -> None:
    sd = tiny_model(0).state_dict()
    fp = base_fingerprint(sd)
    assert base_fingerprint({k: v.half() for k, v in sd.items()}) == fp
    assert base_fingerprint(tiny_model(0)) == fp
    renamed = {
        k.replace(".weight_g", ".parametrizations.weight.original0").replace(
            ".weight_v", ".parametrizations.weight.original1"
        ): v
        for k, v in sd.items()
    }
    assert renamed.keys() != sd.keys() and base_fingerprint(renamed) == fp
    assert base_fingerprint({k: v for k, v in sd.items() if not k.startswith("enc_q.")}) == fp
    model = tiny_model(0)
    add_lora(model, LoRAConfig(targets="all"))
    randomize_adapter(model)
    model.emb_g.weight.data.copy_(sd["emb_g.weight"])
    assert base_fingerprint(model) == fp  # LoRA tensors are not part of the base
    changed = dict(sd)
    changed["dec.conv_post.weight"] = sd["dec.conv_post.weight"].clone()
    changed["dec.conv_post.weight"][0, 0, 0] += 0.01
    assert base_fingerprint(changed) != fp
    assert base_fingerprint(tiny_model(1)) != fp


def test_wrong_base_refused_unless_forced(tmp_path: Path) -> None:
    path = save_lora(trained(1), tmp_path / "a.safetensors")
    other = tiny_model(5)
    with pytest.raises(IncompatibleError, match="another base model"):
        load_lora(other, path)
    assert not list(lora_layers(other))
    with pytest.warns(RvcloraWarning, match=r"trained on another base model .*; loading anyway \(forced\)"):
        load_lora(other, path, force=True)
    assert len(list(lora_layers(other))) > 0


def test_shape_mismatch_refused(tmp_path: Path) -> None:
    tensors, meta = read_adapter(save_lora(trained(1), tmp_path / "a.safetensors"))
    tensors["dec.cond.lora_A"] = torch.zeros(3, 9, 1)
    meta.base_fingerprint = None
    write_adapter(tmp_path / "b.safetensors", tensors, meta)
    with pytest.raises(IncompatibleError, match="dec.cond"):
        load_lora(tiny_model(0), tmp_path / "b.safetensors")
    forced = tiny_model(0)
    with pytest.warns(RvcloraWarning, match="dec.cond"):
        load_lora(forced, tmp_path / "b.safetensors", force=True)
    paths = {p for p, _ in lora_layers(forced)}
    assert "dec.cond" not in paths and "dec.ups.0" in paths


def test_load_scale_multiplies(tmp_path: Path) -> None:
    model = trained(1)
    path = save_lora(model, tmp_path / "a.safetensors", dtype=torch.float32)
    half = tiny_model(0)
    load_lora(half, path, scale=0.5)
    assert {layer.scale for _, layer in lora_layers(half)} == {1.0}


@pytest.mark.parametrize("content", [b"", b"garbage" * 10])
def test_bad_files_are_user_errors(tmp_path: Path, content: bytes) -> None:
    for name in ("x.safetensors", "x.pth"):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(BadInputError):
            read_adapter(tmp_path / name)
    (tmp_path / "x.bin").write_bytes(b"x")
    with pytest.raises(BadInputError, match="must end in"):
        read_adapter(tmp_path / "x.bin")


def test_safetensors_without_our_metadata_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(BadInputError, match="not an rvclora adapter"):
        read_adapter(tmp_path / "other.safetensors")
    torch.save({"weight": {"a": torch.zeros(2)}}, tmp_path / "model.pth")
    with pytest.raises(BadInputError, match="not an rvclora adapter"):
        read_adapter(tmp_path / "model.pth")


def test_save_without_adapter_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(BadInputError):
        save_lora(tiny_model(0), tmp_path / "a.safetensors")
    assert not list(tmp_path.iterdir())


def _deltas(model: TinyRVC) -> dict[str, torch.Tensor]:
    return {p: layer.delta_weight(torch.float32).detach() for p, layer in lora_layers(model)}


def test_several_adapters_add_up_exactly(tmp_path: Path) -> None:
    one, two = trained(1, "all", rank=3, alpha=6.0), trained(2, "voice", rank=2, alpha=1.0)
    files = [
        read_adapter(save_lora(m, tmp_path / f"{i}.safetensors", dtype=torch.float32)) for i, m in enumerate((one, two))
    ]
    weights = [0.7, -0.4]
    base = tiny_model(0)
    w0 = {p: effective_weight(base.get_submodule(p)).detach().clone() for p in _deltas(one)}
    emb0 = base.emb_g.weight.detach().clone()
    d1, d2 = _deltas(one), _deltas(two)
    merged = merge_weighted(base, files, weights)
    assert not list(lora_layers(merged))
    for p, w in w0.items():
        expected = w + weights[0] * d1[p] + weights[1] * d2.get(p, torch.zeros_like(w))
        got = effective_weight(merged.get_submodule(p))
        assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6), p
    emb = emb0 + weights[0] * (one.emb_g.weight - emb0) + weights[1] * (two.emb_g.weight - emb0)
    assert torch.allclose(merged.emb_g.weight, emb, atol=1e-6)


def test_blended_adapter_file_equals_weighted_sum(tmp_path: Path) -> None:
    one, two = trained(1, rank=3), trained(2, rank=3)
    files = [read_adapter(save_lora(m, tmp_path / f"{i}.pth", dtype=torch.float32)) for i, m in enumerate((one, two))]
    tensors, meta = blend_adapters(files, [0.5, 0.5])  # weights sum to 1: no base needed
    write_adapter(tmp_path / "blend.safetensors", tensors, meta, dtype=torch.float32)
    model = tiny_model(0)
    load_lora(model, tmp_path / "blend.safetensors")
    assert all(layer.rank == 6 for _, layer in lora_layers(model))
    d1, d2, db = _deltas(one), _deltas(two), _deltas(model)
    for p in db:
        assert torch.allclose(db[p], 0.5 * d1[p] + 0.5 * d2[p], rtol=1e-5, atol=1e-7), p
    assert torch.allclose(model.emb_g.weight, 0.5 * (one.emb_g.weight + two.emb_g.weight))
    assert [b["weight"] for b in meta.info["blend"]] == [0.5, 0.5]
    assert meta.created and meta.created.endswith("Z") and meta.config.rank == 6 and not meta.config.rank_pattern
    with pytest.raises(ConfigError, match="base model"):
        blend_adapters(files, [1.0, 1.0])


def test_blend_refuses_adapters_of_different_bases(tmp_path: Path) -> None:
    a = read_adapter(save_lora(trained(1), tmp_path / "a.pth"))
    tensors, meta = read_adapter(save_lora(trained(2), tmp_path / "b.pth"))
    meta.base_fingerprint = "0" * 64
    with pytest.raises(IncompatibleError, match="different base"):
        blend_adapters([a, (tensors, meta)], [0.5, 0.5])


def test_rank_pattern_shapes_each_layer_and_round_trips(tmp_path: Path) -> None:
    config = LoRAConfig(
        rank=3, alpha=6.0, targets="all", rank_pattern={"dec.ups": 1, "dec.cond": 5}, alpha_pattern={"dec.cond": 5.0}
    )
    model = tiny_model(0)
    add_lora(model, config)
    randomize_adapter(model, 1)
    layers = dict(lora_layers(model))
    assert (layers["dec.ups.0"].rank, layers["dec.cond"].rank, layers["enc_p.proj"].rank) == (1, 5, 3)
    assert (layers["dec.ups.0"].scale, layers["dec.cond"].scale, layers["enc_p.proj"].scale) == (6.0, 1.0, 2.0)
    path = save_lora(model, tmp_path / "a.safetensors", dtype=torch.float32)
    with safe_open(str(path), framework="pt") as f:
        raw = json.loads(f.metadata()["rvclora"])
    assert raw["format_version"] == 2  # layers scale differently: a version-1 reader would apply one scale to all
    fresh = tiny_model(0)
    meta = load_lora(fresh, path)
    assert meta.config == config and {p: layer.scale for p, layer in lora_layers(fresh)} == {
        p: layer.scale for p, layer in layers.items()
    }
    x = tiny_inputs()
    assert torch.equal(fresh(*x), model(*x))
    tensors, blend = blend_adapters([read_adapter(path), read_adapter(path)], [0.25, 0.75])
    assert blend.config.rank == 6 and blend.config.rank_pattern == {"dec.ups.0": 2, "dec.cond": 10}
    assert blend.single_scale and blend.to_dict()["format_version"] == 1
    blended = tiny_model(0)
    attach_adapter(blended, tensors, blend)
    assert {p: layer.rank for p, layer in lora_layers(blended)}["dec.cond"] == 10
    d, db = _deltas(model), _deltas(blended)
    for p in d:
        assert torch.allclose(db[p], d[p], rtol=1e-5, atol=1e-6), p


def test_rank_pattern_that_matches_no_layer_is_refused() -> None:
    with pytest.raises(ConfigError, match="dec.upz"):
        add_lora(tiny_model(0), LoRAConfig(targets="all", rank_pattern={"dec.upz.*": 2}))
    with pytest.raises(ConfigError, match="positive"):
        LoRAConfig(rank_pattern={"dec.ups.*": 0})


def test_configs_without_patterns_read_and_write_as_before() -> None:
    from rvclora.workspace.schema import SECTIONS

    assert set(LoRAConfig().to_dict()) == {"rank", "alpha", "dropout", "targets", "exclude", "rslora", "full_modules"}
    lora = next(s for s in SECTIONS if s.name == "lora")
    assert "rank_pattern" not in {k.name for k in lora.keys}  # not a workspace setting
