"""The optimised training step (train/step.py) against the straightforward reference step.

Same losses, gradient norms and updated weights (LoRA and full fine-tuning), with the discriminator's
gradients in the generator update really skipped and less autograd memory saved.
"""

from __future__ import annotations

import copy
from functools import partial
from pathlib import Path

import pytest
import torch
from helpers_train import BASE, B, random_batch


def _parts(reference_dir: Path, mode: str):
    from rvclora.lora.config import LoRAConfig
    from rvclora.lora.inject import add_lora
    from rvclora.models.checkpoint import load_synthesizer
    from rvclora.models.discriminator import MultiPeriodDiscriminator

    torch.manual_seed(0)
    net = load_synthesizer(reference_dir / BASE)
    if mode == "lora":
        add_lora(net, LoRAConfig(rank=4, targets="decoder+flow"))
        with torch.no_grad():  # non-zero B: the adapter is live from the first step
            for name, p in net.named_parameters():
                if name.endswith("lora_B"):
                    p.normal_(0, 0.02)
        for p in net.enc_q.parameters():
            p.requires_grad_(False)
    else:
        for p in net.parameters():
            p.requires_grad_(True)
    disc = MultiPeriodDiscriminator("v2", width_divisor=64, periods=(2, 3))
    return net.train(), disc.train()


def _runner(net, disc, fe):
    from rvclora.train.forward import TrainingGenerator
    from rvclora.train.step import Critic, Optimisers, StepModules

    modules = StepModules(TrainingGenerator(net, fe.segment, fe.hop), Critic(disc), net, disc)
    opt = Optimisers(
        torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-3),
        torch.optim.AdamW(disc.parameters(), lr=1e-3),
        torch.amp.GradScaler("cpu", enabled=False),
    )
    return modules, opt


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "shared_d_pass"), [("lora", True), ("full", True), ("full", False)])
def test_optimised_step_matches_reference_step(
    reference_dir: Path, mode: str, shared_d_pass: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rvclora.train import step as step_module
    from rvclora.train.frontend import FrontEnd
    from rvclora.train.precision import choose_precision
    from rvclora.train.step import read_scalars, reference_step, train_step

    monkeypatch.setattr(step_module, "SHARED_D_PASS_MAX", B if shared_d_pass else B - 1)
    fe = FrontEnd(40000, "v2")
    net, disc = _parts(reference_dir, mode)
    twin_net, twin_disc = copy.deepcopy(net), copy.deepcopy(disc)
    batch = random_batch(fe, net.config.content_dim)
    starts = torch.tensor([3, 0, 11])
    precision = choose_precision("auto", torch.device("cpu"))
    fast, fast_opt = _runner(net, disc, fe)
    ref, ref_opt = _runner(twin_net, twin_disc, fe)
    for step in range(2):
        torch.manual_seed(step)  # the same noise draws (posterior sample, NSF source) on both sides
        got = read_scalars(train_step(fast, batch, starts, fe, 45.0, 1.0, precision, fast_opt))
        torch.manual_seed(step)
        want = reference_step(ref, batch, starts, fe, 45.0, 1.0, precision, ref_opt)
        assert got.keys() == want.keys()
        for k in want:
            assert got[k] == pytest.approx(want[k], rel=2e-5, abs=1e-6), k
    for (name, p), q in zip(net.named_parameters(), twin_net.parameters(), strict=True):
        if name.endswith("conv_k.bias"):
            # Softmax ignores a shift shared by all keys, so this gradient is rounding noise and Adam steps
            # it by ±lr either way: only its size is comparable.
            assert float((p - q).detach().abs().max()) <= 2 * 2 * 1e-3, name
            continue
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6, msg=name)
    for p, q in zip(disc.parameters(), twin_disc.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
    assert any(n.endswith("lora_B") for n, p in net.named_parameters() if p.requires_grad) == (mode == "lora")


def _one_step_each(reference_dir: Path, mode: str):
    """For the optimised and then the reference step, fresh models and ``(name, disc, fe, run)``, where
    ``run()`` takes one step."""
    from rvclora.train.frontend import FrontEnd
    from rvclora.train.precision import choose_precision
    from rvclora.train.step import reference_step, train_step

    fe = FrontEnd(40000, "v2")
    precision = choose_precision("auto", torch.device("cpu"))
    for name, step in (("fast", train_step), ("ref", reference_step)):
        net, disc = _parts(reference_dir, mode)
        modules, opt = _runner(net, disc, fe)
        batch = random_batch(fe, net.config.content_dim)
        yield name, disc, fe, partial(step, modules, batch, torch.tensor([0, 5, 9]), fe, 45.0, 1.0, precision, opt)


@pytest.mark.slow
def test_generator_update_computes_no_discriminator_gradients(reference_dir: Path) -> None:
    """After the step, D's gradients are those of its own update (their norm is the one reported), and every
    D parameter requires gradients again; the reference step leaves D's G-update gradients added on top."""
    from rvclora.train.step import read_scalars

    norms = {}
    for name, disc, _, run in _one_step_each(reference_dir, "lora"):
        out = run()
        reported = out["grad_norm_d"] if name == "ref" else read_scalars(out)["grad_norm_d"]
        left = float(torch.nn.utils.get_total_norm([p.grad for p in disc.parameters()]))
        norms[name] = (reported, left)
        assert all(p.requires_grad for p in disc.parameters())
    assert norms["fast"][1] == pytest.approx(norms["fast"][0], rel=1e-6)
    assert norms["ref"][1] != pytest.approx(norms["ref"][0], rel=1e-3)


def _saved_total(fn) -> int:
    from rvclora.train.meter import SavedTensorMeter

    with SavedTensorMeter() as meter:
        fn()
    return meter.total


@pytest.mark.slow
def test_generator_update_saves_nothing_for_the_real_audio_pass(reference_dir: Path) -> None:
    """The reference keeps the discriminator's activations on real audio for a backward that needs none; the
    optimised step saves at least that much less over the step."""
    saved = {}
    for name, disc_now, fe_now, run in _one_step_each(reference_dir, "full"):
        saved[name] = _saved_total(run)
        disc, fe = disc_now, fe_now  # the last step's parts measure the real-audio pass below
    real = torch.randn(B, 1, fe.segment * fe.hop)
    real_pass = _saved_total(lambda: disc.judge(real))
    assert real_pass > 0
    assert saved["ref"] - saved["fast"] >= 0.9 * real_pass


def test_frozen_restores_only_what_it_froze() -> None:
    from rvclora.train.step import frozen

    layer = torch.nn.Linear(2, 2)
    layer.bias.requires_grad_(False)
    with frozen(layer):
        assert not layer.weight.requires_grad
    assert layer.weight.requires_grad and not layer.bias.requires_grad


def test_read_scalars_keeps_names_and_values() -> None:
    from rvclora.train.step import read_scalars

    got = read_scalars({"a": torch.tensor(1.5), "b": torch.tensor(2, dtype=torch.float64), "c": torch.tensor(-3.0)})
    assert got == {"a": 1.5, "b": 2.0, "c": -3.0}


def test_saved_tensor_meter_counts_each_storage_once_and_releases_it() -> None:
    from rvclora.train.meter import SavedTensorMeter

    x = torch.randn(1000, requires_grad=True)
    with SavedTensorMeter() as meter:
        y = (x * 2).sin()  # sin keeps its input: 4,000 bytes
        z = y.exp() + y.exp()  # both exps keep the same-sized outputs: 8,000 more (mul by 2 keeps none)
        assert meter.live == 12_000
        z.sum().backward()  # frees the graph
    assert meter.peak == meter.total == 12_000 and meter.live == 0


@pytest.mark.parametrize("scaled", [False, True])
def test_an_update_without_any_gradient_is_a_zero_norm_no_op(scaled: bool) -> None:
    """When no parameter received a gradient (all cut off from the loss), the update returns a zero norm and
    leaves the weights alone, with or without fp16 loss scaling."""
    from rvclora.train.step import _finish_update

    module = torch.nn.Linear(3, 2)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    opt = torch.optim.AdamW(module.parameters(), lr=0.1, weight_decay=0.5)
    scaler = torch.amp.GradScaler("cpu", enabled=scaled)
    norm = _finish_update(opt, scaler, module)
    assert norm.shape == () and float(norm) == 0.0
    for k, v in module.state_dict().items():
        assert torch.equal(v, before[k]), k
    scaler.scale(module.weight.sum()).backward()  # a later update with gradients still works
    assert float(_finish_update(opt, scaler, module)) > 0
    scaler.update()
