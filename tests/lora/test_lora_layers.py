"""LoRA wrappers: every layer type × every weight-norm form × the invariants of the design.

Both factors are always non-zero, so a merge that drops or mis-folds the branch cannot pass.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rvclora.lora.layers import POINTWISE_FIRST, TRANSPOSED_FIRST, LoRAConvTranspose1d, LoRALayer, wrapper_class
from rvclora.lora.weights import effective_weight, set_effective_weight, weight_norm_parts

RANK = 3

# name -> (layer class, args, kwargs, transposed-conv order)
LAYERS: dict[str, tuple[type[nn.Module], tuple[Any, ...], dict[str, Any], str | None]] = {
    "linear": (nn.Linear, (6, 5), {}, None),
    "embedding": (nn.Embedding, (11, 5), {}, None),
    "conv_k1": (nn.Conv1d, (6, 5, 1), {}, None),
    "conv_k5_dil3": (nn.Conv1d, (6, 5, 5), {"dilation": 3, "padding": 6}, None),
    "conv_k4_s2_nobias": (nn.Conv1d, (6, 5, 4), {"stride": 2, "padding": 1, "bias": False}, None),
    "conv_same_dil2": (nn.Conv1d, (6, 5, 3), {"padding": "same", "dilation": 2}, None),
    "conv_valid": (nn.Conv1d, (6, 5, 3), {"padding": "valid"}, None),
    "conv_reflect": (nn.Conv1d, (6, 5, 5), {"padding": 2, "padding_mode": "reflect"}, None),
    "conv_replicate_s3": (nn.Conv1d, (6, 5, 7), {"stride": 3, "padding": 3, "padding_mode": "replicate"}, None),
    "conv_circular_dil2": (nn.Conv1d, (6, 5, 3), {"padding": 2, "dilation": 2, "padding_mode": "circular"}, None),
    "convT_k16_s10_p3_pw": (nn.ConvTranspose1d, (8, 4, 16, 10, 3), {}, POINTWISE_FIRST),
    "convT_k16_s10_p3_tr": (nn.ConvTranspose1d, (8, 4, 16, 10, 3), {}, TRANSPOSED_FIRST),
    "convT_k4_s2_p1_pw": (nn.ConvTranspose1d, (8, 4, 4, 2, 1), {}, POINTWISE_FIRST),
    "convT_k4_s2_p1_tr": (nn.ConvTranspose1d, (8, 4, 4, 2, 1), {}, TRANSPOSED_FIRST),
    "convT_outpad_dil2_pw": (
        nn.ConvTranspose1d,
        (6, 5, 3),
        {"stride": 2, "padding": 1, "output_padding": 1, "dilation": 2},
        POINTWISE_FIRST,
    ),
    "convT_outpad_dil2_tr": (
        nn.ConvTranspose1d,
        (6, 5, 3),
        {"stride": 2, "padding": 1, "output_padding": 1, "dilation": 2},
        TRANSPOSED_FIRST,
    ),
}
WN_FORMS = ("none", "own", "legacy", "parametrize")


def _functional(layer: nn.Module, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    if isinstance(layer, nn.Linear):
        return F.linear(x, w, layer.bias)
    if isinstance(layer, nn.Embedding):
        return F.embedding(x, w, layer.padding_idx)
    if isinstance(layer, nn.ConvTranspose1d):
        return F.conv_transpose1d(
            x, w, layer.bias, layer.stride, layer.padding, layer.output_padding, layer.groups, layer.dilation
        )
    return layer._conv_forward(x, w, layer.bias)


def own_gv_class(cls: type[nn.Module]) -> type[nn.Module]:
    """A subclass mimicking the models' contract: Parameters weight_g/weight_v, no ``weight`` at all."""

    class GV(cls):  # type: ignore[valid-type, misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            w = self._parameters.pop("weight").detach()
            self.weight_g = nn.Parameter(torch.norm_except_dim(w, 2, 0).clone())
            self.weight_v = nn.Parameter(w.clone())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return _functional(self, x, torch._weight_norm(self.weight_v, self.weight_g, 0))

    return GV


def make_layer(name: str, form: str) -> nn.Module:
    cls, args, kwargs, _ = LAYERS[name]
    layer = (own_gv_class(cls) if form == "own" else cls)(*args, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        if form == "legacy":
            nn.utils.weight_norm(layer)
        elif form == "parametrize":
            nn.utils.parametrizations.weight_norm(layer)
    parts = weight_norm_parts(layer)
    if form != "none":
        assert parts is not None
        with torch.no_grad():  # make ‖v‖ ≠ g so a merge that ignores either one shows
            parts[0].mul_(torch.linspace(0.5, 1.5, parts[0].numel()).view_as(parts[0]))
            parts[1].mul_(1.7)
    else:
        assert parts is None
    return layer


def make_input(name: str) -> torch.Tensor:
    cls, args, _, _ = LAYERS[name]
    if cls is nn.Embedding:
        return torch.randint(0, args[0], (2, 7))
    if cls is nn.Linear:
        return torch.randn(2, 7, args[0])
    return torch.randn(2, args[0], 23)


def wrap(layer: nn.Module, name: str) -> LoRALayer:
    cls = wrapper_class(layer)
    assert cls is not None
    order = LAYERS[name][3]
    wrapper = cls(layer, RANK, 0.7, order=order) if order else cls(layer, RANK, 0.7)
    with torch.no_grad():
        wrapper.lora_A.normal_(0, 0.3)
        wrapper.lora_B.normal_(0, 0.3)
    return wrapper


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().abs().max() / b.detach().abs().max())


def folded(wrapper: LoRALayer, delta: torch.Tensor) -> torch.Tensor:
    """ΔW as the matrix whose rank the factorisation bounds (input side × output side)."""
    if isinstance(wrapper, LoRAConvTranspose1d):
        if wrapper.order == POINTWISE_FIRST:  # [in, out, k] → [in, out·k]
            return delta.reshape(delta.shape[0], -1)
        return delta.permute(0, 2, 1).reshape(-1, delta.shape[1])  # [in·k, out]
    return delta.reshape(delta.shape[0], -1)


CASES = [(n, f) for n in LAYERS for f in WN_FORMS]


@pytest.fixture(params=CASES, ids=[f"{n}-{f}" for n, f in CASES])
def case(request: pytest.FixtureRequest) -> tuple[str, nn.Module, torch.Tensor]:
    torch.manual_seed(hash(request.param) % 1000)
    name, form = request.param
    return name, make_layer(name, form), make_input(name)


def test_merged_equals_unmerged_and_unmerge_restores(case: tuple[str, nn.Module, torch.Tensor]) -> None:
    name, layer, x = case
    with torch.no_grad():
        base_out = layer(x)
        w0 = effective_weight(layer).clone()
        wrapper = wrap(layer, name)
        live = wrapper(x)
        assert rel_err(live, base_out) > 1e-3  # the adapter really does something
        expected_w = w0 + wrapper.delta_weight()
        wrapper.merge()
        assert wrapper.merged
        merged = wrapper(x)
        assert rel_err(merged, live) < 1e-5
        # the base layer itself now computes with W + ΔW (not just a cached copy)
        assert rel_err(effective_weight(wrapper.base), expected_w) < 1e-5
        assert rel_err(wrapper.base(x), live) < 1e-5
        wrapper.merge()  # idempotent
        assert rel_err(wrapper(x), merged) < 1e-6
        wrapper.unmerge()
        assert not wrapper.merged
        assert rel_err(effective_weight(wrapper.base), w0) < 1e-5
        assert rel_err(wrapper.base(x), base_out) < 1e-5
        assert rel_err(wrapper(x), live) < 1e-5


@pytest.mark.parametrize(("name", "form"), [c for c in CASES if c[1] != "none"])
def test_stored_weight_norm_tensors_survive_merge_roundtrip(name: str, form: str) -> None:
    torch.manual_seed(0)
    layer = make_layer(name, form)
    parts = weight_norm_parts(layer)
    assert parts is not None
    g0, v0 = parts[0].detach().clone(), parts[1].detach().clone()
    wrapper = wrap(layer, name)
    wrapper.merge()
    assert rel_err(parts[1].detach(), v0) > 1e-3  # v really changed while merged
    wrapper.unmerge()
    assert rel_err(parts[0].detach(), g0) < 1e-5
    assert rel_err(parts[1].detach(), v0) < 1e-5


def test_delta_is_low_rank(case: tuple[str, nn.Module, torch.Tensor]) -> None:
    name, layer, _ = case
    wrapper = wrap(layer, name)
    delta = wrapper.delta_weight().detach()
    assert delta.shape == effective_weight(layer).shape
    rank = int(torch.linalg.matrix_rank(folded(wrapper, delta).double(), rtol=1e-5))
    assert 1 <= rank <= RANK


def test_fresh_adapter_is_a_no_op_and_only_factors_train(case: tuple[str, nn.Module, torch.Tensor]) -> None:
    name, layer, x = case
    with torch.no_grad():
        base_out = layer(x)
    cls = wrapper_class(layer)
    assert cls is not None
    wrapper = cls(layer, RANK, 0.7)
    assert torch.count_nonzero(wrapper.lora_A) > 0 and torch.count_nonzero(wrapper.lora_B) == 0
    assert torch.equal(wrapper(x), base_out)


def test_state_dict_keeps_base_keys(case: tuple[str, nn.Module, torch.Tensor]) -> None:
    name, layer, x = case
    before = list(layer.state_dict())
    wrapper = wrap(layer, name)
    keys = list(wrapper.state_dict())
    assert keys == before + ["lora_A", "lora_B"]
    # an upstream state_dict (no LoRA keys) loads strictly and keeps the factors
    fresh = make_layer(name, "none" if not weight_norm_parts(layer) else _form_of(layer))
    a = wrapper.lora_A.detach().clone()
    wrapper.load_state_dict(fresh.state_dict())
    assert torch.equal(wrapper.lora_A, a)
    for key, value in fresh.state_dict().items():
        assert torch.equal(wrapper.state_dict()[key], value)


def _form_of(layer: nn.Module) -> str:
    if nn.utils.parametrize.is_parametrized(layer):
        return "parametrize"
    return "legacy" if any(type(h).__name__ == "WeightNorm" for h in layer._forward_pre_hooks.values()) else "own"


def test_train_eval_never_merge() -> None:
    layer = make_layer("conv_k5_dil3", "legacy")
    wrapper = wrap(layer, "conv_k5_dil3")
    x = make_input("conv_k5_dil3")
    with torch.no_grad():
        live = wrapper(x)
        wrapper.eval()
        assert not wrapper.merged and torch.equal(wrapper(x), live)
        wrapper.merge()
        wrapper.train()
        wrapper.eval()
        assert wrapper.merged and rel_err(wrapper(x), live) < 1e-5


def test_delta_computed_in_fp32_cast_to_base_dtype() -> None:
    layer = make_layer("linear", "own").half()
    wrapper = wrap(layer, "linear")
    assert wrapper.delta_weight().dtype == torch.float16
    ref = (wrapper.lora_B.float() @ wrapper.lora_A.float()) * 0.7
    assert torch.equal(wrapper.delta_weight(torch.float32), ref)


def test_set_effective_weight_parametrization_and_plain() -> None:
    for form in ("none", "parametrize", "legacy", "own"):
        layer = make_layer("conv_k1", form)
        target = torch.randn_like(effective_weight(layer))
        set_effective_weight(layer, target)
        assert rel_err(effective_weight(layer), target) < 1e-6
        x = make_input("conv_k1")
        assert rel_err(layer(x), F.conv1d(x, target, layer.bias)) < 1e-5


def test_transposed_order_chosen_by_parameter_count() -> None:
    ups = LoRAConvTranspose1d(nn.ConvTranspose1d(512, 256, 16, 10, 3), 8)
    assert ups.order == POINTWISE_FIRST  # 8·(512 + 256·16) < 8·(512·16 + 256)
    widening = LoRAConvTranspose1d(nn.ConvTranspose1d(16, 64, 4, 2, 1), 8)
    assert widening.order == TRANSPOSED_FIRST  # 8·(16·4 + 64) < 8·(16 + 64·4)
    assert ups.lora_A.numel() + ups.lora_B.numel() == 8 * (512 + 256 * 16)


def test_unsupported_layers_are_not_wrapped() -> None:
    make: list[Callable[[], nn.Module]] = [
        lambda: nn.Conv2d(2, 2, 3),
        lambda: nn.Conv1d(4, 4, 3, groups=2),
        lambda: nn.LayerNorm(4),
    ]
    for factory in make:
        assert wrapper_class(factory()) is None
