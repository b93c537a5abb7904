"""Frozen convolutions keep only their weight for backward: same gradients, less saved memory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers_train import BASE, random_batch
from torch import nn


def _lora_net(reference_dir: Path):
    from rvclora.lora.config import LoRAConfig
    from rvclora.lora.inject import add_lora
    from rvclora.models.checkpoint import load_synthesizer

    torch.manual_seed(0)
    net = load_synthesizer(reference_dir / BASE)
    add_lora(net, LoRAConfig(rank=4))  # default preset: resblocks of kernel 7/11 and the encoders stay frozen
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("lora_B"):
                p.normal_(0, 0.02)
    for p in net.enc_q.parameters():
        p.requires_grad_(False)
    return net.train()


def _grads_and_saved(net: nn.Module, lean: bool) -> tuple[dict[str, torch.Tensor], int]:
    from rvclora.train.forward import TrainingGenerator
    from rvclora.train.frontend import FrontEnd
    from rvclora.train.frozen import lean_frozen_convs
    from rvclora.train.meter import SavedTensorMeter

    fe = FrontEnd(40000, "v2")
    gen = TrainingGenerator(net, fe.segment, fe.hop)
    batch = random_batch(fe, net.config.content_dim)
    net.zero_grad(set_to_none=True)
    with lean_frozen_convs(net) if lean else _nothing() as patched, SavedTensorMeter() as meter:
        assert not lean or patched > 10
        torch.manual_seed(5)
        out = gen(batch, torch.tensor([2, 0, 9]))
        loss = out.audio.pow(2).mean() + (out.z_p - out.m_p).pow(2).mean()
        loss.backward()
    return {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}, meter.peak


class _nothing:
    def __enter__(self) -> int:
        return 0

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.slow
def test_same_gradients_and_less_saved_memory(reference_dir: Path) -> None:
    net = _lora_net(reference_dir)
    plain, plain_peak = _grads_and_saved(net, lean=False)
    lean, lean_peak = _grads_and_saved(net, lean=True)
    assert plain.keys() == lean.keys() and any(k.endswith("lora_A") for k in plain)
    for k in plain:
        torch.testing.assert_close(lean[k], plain[k], rtol=1e-6, atol=1e-9, msg=k)
    assert lean_peak < 0.9 * plain_peak
    assert not any("forward" in m.__dict__ for m in net.modules())  # forwards restored


@pytest.mark.parametrize("kind", ["conv1d", "transposed", "grouped", "conv2d"])
def test_input_gradient_matches_autograd_also_under_autocast(kind: str) -> None:
    from rvclora.models.weightnorm import WNConv1d, WNConv2d, WNConvTranspose1d
    from rvclora.train.frozen import lean_frozen_convs

    torch.manual_seed(0)
    conv = {
        "conv1d": lambda: WNConv1d(6, 4, 5, stride=2, padding=4, dilation=2),  # generator layers
        "transposed": lambda: WNConvTranspose1d(6, 4, 8, stride=4, padding=2),
        "grouped": lambda: WNConv1d(6, 4, 41, stride=4, groups=2, padding=20),  # scale discriminator
        "conv2d": lambda: WNConv2d(6, 4, (5, 1), (3, 1), padding=(2, 0)),
    }[kind]()  # period discriminators
    conv.requires_grad_(False)
    x = torch.randn(2, 6, 40, 3) if kind == "conv2d" else torch.randn(2, 6, 40)
    for autocast in (False, True):
        results = []
        for lean in (False, True):
            xi = x.clone().requires_grad_(True)
            with (
                lean_frozen_convs(conv) if lean else _nothing(),
                torch.autocast("cpu", torch.bfloat16, enabled=autocast),
            ):
                y = conv(xi)
            (y.float() * torch.linspace(-1, 1, y.shape[2]).reshape(-1, *[1] * (y.dim() - 3))).sum().backward()
            results.append((y.detach().float(), xi.grad))
        (y0, g0), (y1, g1) = results
        assert g1.dtype == x.dtype
        tol = {"rtol": 2e-2, "atol": 2e-2} if autocast else {"rtol": 1e-6, "atol": 1e-7}
        torch.testing.assert_close(y1, y0, **tol)
        torch.testing.assert_close(g1, g0, **tol)


@pytest.mark.slow
def test_without_autograd_the_cached_weight_gives_the_same_output(reference_dir: Path) -> None:
    """Validation renders run through the patched layers under no_grad: same audio as unpatched."""
    from rvclora.models.noise import without_noise
    from rvclora.train.frozen import lean_frozen_convs

    net = _lora_net(reference_dir).eval()
    phone, lengths = torch.randn(1, 40, net.config.content_dim), torch.tensor([40])
    f0 = torch.full((1, 40), 160.0)
    pitch = torch.full((1, 40), 60, dtype=torch.long)
    outputs = []
    for lean in (False, True):
        with lean_frozen_convs(net) if lean else _nothing(), without_noise(), torch.no_grad():
            outputs.append(net.run_infer(phone, lengths, torch.tensor([0]), pitch=pitch, nsff0=f0)[0])
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-6, atol=1e-7)


def test_trainable_and_non_zero_padded_convs_are_left_alone() -> None:
    from rvclora.train.frozen import lean_frozen_convs

    model = nn.Sequential(nn.Conv1d(2, 2, 3), nn.Conv1d(2, 2, 3, padding=1, padding_mode="reflect"), nn.Conv1d(2, 2, 3))
    model[1].requires_grad_(False)
    model[2].requires_grad_(False)
    with lean_frozen_convs(model) as patched:
        assert patched == 1 and "forward" in model[2].__dict__
