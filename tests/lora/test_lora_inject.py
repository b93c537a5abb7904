"""add_lora / remove_lora / merge_lora on a tiny model with RVC's module names and all weight-norm forms."""

from __future__ import annotations

import pytest
import torch
from helpers_lora import randomize_adapter, tiny_inputs, tiny_model

from rvclora.errors import ConfigError, IncompatibleError
from rvclora.lora.config import LoRAConfig
from rvclora.lora.inject import add_lora, lora_layers, remove_lora
from rvclora.lora.merge import merge_adapters, merge_lora, unmerge_adapters
from rvclora.lora.weights import effective_weight

FLOW_LAYERS = [
    f"flow.flows.{i}.{n}"
    for i in (0, 2)
    for n in (
        "pre",
        "enc.in_layers.0",
        "enc.in_layers.1",
        "enc.res_skip_layers.0",
        "enc.res_skip_layers.1",
        "enc.cond_layer",
        "post",
    )
]
DEC_RESBLOCK = [f"dec.resblocks.{r}.convs{c}.{j}" for r in range(3) for c in (1, 2) for j in range(2)]
ENC_P = ["enc_p.emb_phone", "enc_p.emb_pitch", "enc_p.proj"]


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        ("voice", FLOW_LAYERS + ["dec.conv_pre", "dec.cond", "dec.ups.0"] + DEC_RESBLOCK[:4] + ["dec.conv_post"]),
        ("decoder", ["dec.conv_pre", "dec.cond", "dec.ups.0"] + DEC_RESBLOCK + ["dec.conv_post"]),
        ("flow", FLOW_LAYERS),
        ("encoder", ENC_P),
        ("all", ENC_P + FLOW_LAYERS + ["dec.conv_pre", "dec.cond", "dec.ups.0"] + DEC_RESBLOCK + ["dec.conv_post"]),
        (["dec.ups", "enc_p.emb_*"], ["dec.ups.0", "enc_p.emb_phone", "enc_p.emb_pitch"]),
        (["flow"], FLOW_LAYERS),
    ],
)
def test_targeting_counts(targets: str | list[str], expected: list[str]) -> None:
    model = tiny_model()
    wrapped = add_lora(model, LoRAConfig(targets=targets))
    assert sorted(wrapped) == sorted(expected)
    assert sorted(p for p, _ in lora_layers(model)) == sorted(expected)


def test_exclude_and_never_enc_q_or_full_modules() -> None:
    model = tiny_model()
    wrapped = add_lora(model, LoRAConfig(targets=["*"], exclude=["flow.*", "dec.resblocks.*"]))
    assert sorted(wrapped) == sorted(ENC_P + ["dec.conv_pre", "dec.cond", "dec.ups.0", "dec.conv_post"])


@pytest.mark.parametrize("targets", [["dec.upz.*"], ["enc_q.*"], ["dec.*", "flw.*"]])
def test_target_matching_nothing_is_a_config_error(targets: list[str]) -> None:
    with pytest.raises(ConfigError, match="match no"):
        add_lora(tiny_model(), LoRAConfig(targets=targets))


def test_missing_full_module_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not found"):
        add_lora(tiny_model(), LoRAConfig(full_modules=["emb_speaker"]))


def test_second_add_refused() -> None:
    model = tiny_model()
    add_lora(model, LoRAConfig())
    with pytest.raises(IncompatibleError):
        add_lora(model, LoRAConfig())


def test_state_dict_keys_stay_upstream() -> None:
    model = tiny_model()
    before = list(model.state_dict())
    assert any(k.endswith("weight_g") for k in before) and any("original0" in k for k in before)
    add_lora(model, LoRAConfig(targets="all"))
    after = list(model.state_dict())
    assert [k for k in after if ".lora_" not in k] == before
    lora_keys = [k for k in after if ".lora_" in k]
    assert len(lora_keys) == 2 * len(list(lora_layers(model)))


def test_upstream_state_dict_loads_into_wrapped_model() -> None:
    model, other = tiny_model(0), tiny_model(1)
    add_lora(model, LoRAConfig(targets="all"))
    randomize_adapter(model)
    a = {p: layer.lora_A.detach().clone() for p, layer in lora_layers(model)}
    model.load_state_dict(other.state_dict())  # strict: base keys all found, LoRA keys keep their values
    for path, layer in lora_layers(model):
        assert torch.equal(layer.lora_A, a[path])
        assert torch.equal(effective_weight(layer.base), effective_weight(other.get_submodule(path)))
    remove_lora(model)
    x = tiny_inputs()
    assert torch.equal(model(*x), other(*x))


def test_wrapped_state_dict_roundtrips_into_wrapped_model() -> None:
    model, other = tiny_model(0), tiny_model(1)
    for m in (model, other):
        add_lora(m, LoRAConfig(targets="all"))
    randomize_adapter(model)
    other.load_state_dict(model.state_dict())
    x = tiny_inputs()
    assert torch.equal(model(*x), other(*x))


def test_remove_lora_restores_base_exactly() -> None:
    model = tiny_model()
    x = tiny_inputs()
    with torch.no_grad():
        ref = model(*x)
    originals = {p: m for p, m in model.named_modules()}
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    speaker = model.emb_g.weight.detach().clone()
    add_lora(model, LoRAConfig(targets="all"))
    randomize_adapter(model)
    with torch.no_grad():
        model.emb_g.weight.copy_(speaker)  # undo the full-module change: only the adapter differs
        assert not torch.allclose(model(*x), ref)
        merge_adapters(model)
    remove_lora(model)  # unmerges first
    assert {p: m for p, m in model.named_modules()}.keys() == originals.keys()
    assert all(model.get_submodule(p) is m for p, m in originals.items() if p)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == grads
    with torch.no_grad():
        assert torch.allclose(model(*x), ref, rtol=1e-5, atol=1e-6)
    fresh = tiny_model()
    add_lora(fresh, LoRAConfig(targets="all"))
    remove_lora(fresh)
    assert torch.equal(fresh(*x), ref)  # never merged: bit-exact


def test_merge_lora_gives_plain_model_equal_to_adapter_output() -> None:
    model = tiny_model()
    add_lora(model, LoRAConfig(targets="all"))
    randomize_adapter(model)
    x = tiny_inputs()
    with torch.no_grad():
        live = model(*x)
        merge_adapters(model)
        merge_adapters(model)  # idempotent
        assert torch.allclose(model(*x), live, rtol=1e-5, atol=1e-6)
        unmerge_adapters(model)
        assert torch.allclose(model(*x), live, rtol=1e-5, atol=1e-6)
        keys = [k for k in model.state_dict() if ".lora_" not in k]
        merged = merge_lora(model)
    assert not list(lora_layers(merged))
    assert list(merged.state_dict()) == keys
    with torch.no_grad():
        assert torch.allclose(merged(*x), live, rtol=1e-5, atol=1e-6)


def test_training_step_updates_only_adapter_and_full_modules() -> None:
    model = tiny_model()
    add_lora(model, LoRAConfig(targets="all", dropout=0.1))
    randomize_adapter(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n in trainable if ".lora_" in n or n.startswith("emb_g.")}
    assert "emb_g.weight" in trainable
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(*tiny_inputs()).pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert (p.grad is not None) == (name in trainable), name
    opt.step()
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(".lora_" in k or k.startswith("emb_g.") for k in changed)
    assert sum(".lora_A" in k for k in changed) > 10 and sum(".lora_B" in k for k in changed) > 10
