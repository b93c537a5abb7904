"""add_lora / remove_lora / merge_lora on a tiny model with RVC's module names and all weight-norm forms."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rvclora.errors import ConfigError, IncompatibleError
from rvclora.lora.config import LoRAConfig
from rvclora.lora.inject import add_lora, lora_layers, remove_lora
from rvclora.lora.merge import merge_adapters, merge_lora, unmerge_adapters
from rvclora.lora.weights import effective_weight

H = 6  # hidden width of the tiny model


def legacy_wn(layer: nn.Module) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return nn.utils.weight_norm(layer)


def param_wn(layer: nn.Module) -> nn.Module:
    return nn.utils.parametrizations.weight_norm(layer)


class GVConv1d(nn.Conv1d):
    """Mimics rvclora.models' weight-normed conv: Parameters weight_g/weight_v, no ``weight`` Parameter."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        w = self._parameters.pop("weight").detach()
        self.weight_g = nn.Parameter(torch.norm_except_dim(w, 2, 0).clone())
        self.weight_v = nn.Parameter(w.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, torch._weight_norm(self.weight_v, self.weight_g, 0), self.bias)


class WN(nn.Module):
    def __init__(self, layers: int) -> None:
        super().__init__()
        self.in_layers = nn.ModuleList(legacy_wn(nn.Conv1d(H, 2 * H, 5, padding=2)) for _ in range(layers))
        self.res_skip_layers = nn.ModuleList(param_wn(nn.Conv1d(H, 2 * H, 1)) for _ in range(layers))
        self.cond_layer = GVConv1d(4, 2 * H * layers, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        cond = self.cond_layer(g)
        out = torch.zeros_like(x)
        for i, (conv, res) in enumerate(zip(self.in_layers, self.res_skip_layers, strict=True)):
            a = conv(x) + cond[:, i * 2 * H : (i + 1) * 2 * H]
            r = res(torch.tanh(a[:, :H]) * torch.sigmoid(a[:, H:]))
            x, out = x + r[:, :H], out + r[:, H:]
        return out


class Coupling(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pre = nn.Conv1d(2, H, 1)
        self.enc = WN(2)
        self.post = nn.Conv1d(H, 2, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        x0, x1 = x[:, :2], x[:, 2:]
        return torch.cat([x0, x1 + self.post(self.enc(self.pre(x0), g))], 1).flip(1)


class ResBlock(nn.Module):
    def __init__(self, ch: int, k: int) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(GVConv1d(ch, ch, k, dilation=d, padding=(k * d - d) // 2) for d in (1, 3))
        self.convs2 = nn.ModuleList(legacy_wn(nn.Conv1d(ch, ch, k, padding=(k - 1) // 2)) for _ in (1, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, 0.1)), 0.1))
        return x


class Dec(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv_pre = nn.Conv1d(4, 8, 7, padding=3)
        self.cond = nn.Conv1d(4, 8, 1)
        self.ups = nn.ModuleList([GVConv1dT(8, 4, 4, 2, 1)])
        self.resblocks = nn.ModuleList(ResBlock(4, k) for k in (3, 5, 7))
        self.conv_post = nn.Conv1d(4, 1, 7, padding=3, bias=False)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        x = self.ups[0](F.leaky_relu(self.conv_pre(x) + self.cond(g), 0.1))
        x = sum(rb(x) for rb in self.resblocks) / 3
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


class GVConv1dT(nn.ConvTranspose1d):
    def __init__(self, *args: int) -> None:
        super().__init__(*args)
        w = self._parameters.pop("weight").detach()
        self.weight_g = nn.Parameter(torch.norm_except_dim(w, 2, 0).clone())
        self.weight_v = nn.Parameter(w.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        w = torch._weight_norm(self.weight_v, self.weight_g, 0)
        return F.conv_transpose1d(x, w, self.bias, self.stride, self.padding, self.output_padding)


class TinyRVC(nn.Module):
    """RVC's module tree in miniature: enc_p, enc_q, flow (2 couplings + flips), dec, emb_g."""

    def __init__(self) -> None:
        super().__init__()
        self.enc_p = nn.Module()
        self.enc_p.emb_phone = nn.Linear(8, H)
        self.enc_p.emb_pitch = nn.Embedding(16, H)
        self.enc_p.proj = nn.Conv1d(H, 4, 1)
        self.enc_q = nn.Module()
        self.enc_q.pre = nn.Conv1d(5, H, 1)
        self.flow = nn.Module()
        self.flow.flows = nn.ModuleList([Coupling(), nn.Identity(), Coupling(), nn.Identity()])
        self.dec = Dec()
        self.emb_g = nn.Embedding(3, 4)
        self.config = SimpleNamespace(version="v2", sr=40000, f0=1)

    def forward(self, phone: torch.Tensor, pitch: torch.Tensor, sid: torch.Tensor) -> torch.Tensor:
        g = self.emb_g(sid).unsqueeze(-1)
        x = (self.enc_p.emb_phone(phone) + self.enc_p.emb_pitch(pitch)).transpose(1, 2)
        z = self.enc_p.proj(x)
        for flow in self.flow.flows[::2]:
            z = flow(z, g)
        return self.dec(z, g)


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


def tiny_model(seed: int = 0) -> TinyRVC:
    torch.manual_seed(seed)
    return TinyRVC()


def tiny_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(2, 9, 8, generator=gen), torch.randint(0, 16, (2, 9), generator=gen), torch.tensor([0, 2])


def randomize_adapter(model: nn.Module, seed: int = 3) -> None:
    """Both factors non-zero (and the full module moved), so nothing can pass by accident."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, layer in lora_layers(model):
            layer.lora_A.copy_(torch.randn(layer.lora_A.shape, generator=gen) * 0.3)
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=gen) * 0.3)
        model.emb_g.weight.add_(torch.randn(model.emb_g.weight.shape, generator=gen))


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
