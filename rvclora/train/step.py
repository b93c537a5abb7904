"""One training step: a discriminator update, then a generator update (upstream's order and objective, §6).

The arithmetic is RVC's; the schedule is arranged for a GPU, where a step at small batch sizes is bound by
kernel launches and host round trips rather than by arithmetic:

- **One discriminator pass per D update for small batches.** Up to :data:`SHARED_D_PASS_MAX` items, the D
  update scores real and generated audio in one batch of 2B (the discriminator has no batch statistics, so
  each item's scores are what a separate pass gives): half the launches of upstream's two passes. Larger
  batches are back-propagated half by half instead, so D keeps one batch of activations at a time.
- **No discriminator weight gradients in the G update.** D's parameters are frozen while the generator
  loss is back-propagated (upstream computes, and then discards, D's weight gradients there), D's
  convolutions keep only their weights for backward (:mod:`rvclora.train.frozen`), and the real audio's pass
  records no graph at all. Less arithmetic and less saved memory; the G gradients are the same.
- **No host synchronisation inside the step.** Losses and gradient norms stay on the device; the caller reads
  all of them with one transfer (:func:`read_scalars`).

:func:`reference_step` is the straightforward version of the same step (two D passes per update, D weight
gradients computed and discarded, a host read per loss). It is kept as the eager reference that tests compare
against and that ``benchmarks/train_step.py`` times beside this one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from rvclora.train.data import Batch
from rvclora.train.forward import GeneratorOutput
from rvclora.train.frontend import FrontEnd
from rvclora.train.frozen import lean_frozen_convs
from rvclora.train.losses import (
    discriminator_loss,
    fake_scores_loss,
    feature_matching_loss,
    generator_loss,
    kl_loss,
    real_scores_loss,
)

if TYPE_CHECKING:
    from rvclora.models.discriminator import MultiPeriodDiscriminator

Judged = tuple[list[torch.Tensor], list[list[torch.Tensor]]]  # per sub-discriminator: scores, feature maps
# Per-rank batch size up to which the D update judges real and generated audio in one pass (see
# _update_discriminator): small batches are launch-bound on a GPU, large ones are memory-bound.
SHARED_D_PASS_MAX = 8


class Critic(nn.Module):
    """The discriminator as a one-input module: scores and feature maps of one batch of audio.

    Real and generated audio then share one pass, and DDP (which hooks ``forward``) can wrap it.
    """

    def __init__(self, discriminator: MultiPeriodDiscriminator) -> None:
        super().__init__()
        self.discriminator = discriminator

    def forward(self, audio: torch.Tensor) -> Judged:
        return self.discriminator.judge(audio)


@dataclass
class StepModules:
    """What one step runs: the (possibly DDP-wrapped) generator and critic, and the bare models behind them."""

    generator: nn.Module  # TrainingGenerator, or DDP around it
    critic: nn.Module  # Critic, or DDP around it
    net: nn.Module  # the synthesizer whose trainable parameters opt_g updates
    disc: MultiPeriodDiscriminator  # the discriminator opt_d updates


@dataclass
class Optimisers:
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler


def train_step(
    m: StepModules,
    batch: Batch,
    starts: torch.Tensor,
    fe: FrontEnd,
    c_mel: float,
    c_kl: float,
    precision: Any,
    opt: Optimisers,
) -> dict[str, torch.Tensor]:
    """One D update then one G update; returns the losses and gradient norms as 0-d device tensors."""
    out = _generate(m, batch, starts, precision)
    loss_d, norm_d = _update_discriminator(m, out.target_wav, out.audio.detach(), precision, opt)

    with frozen(m.disc), lean_frozen_convs(m.disc), precision.autocast():
        _, fmap_real = m.disc.judge(out.target_wav)  # records no graph: frozen D, real audio
        fake, fmap_fake = m.disc.judge(out.audio)  # D's convolutions keep their weights, not their inputs
    losses = _generator_losses(out, fe, fake, fmap_real, fmap_fake, c_mel, c_kl)
    norm_g = _update(losses["loss_g"], opt.opt_g, opt.scaler, m.net)
    opt.scaler.update()
    return {"loss_d": loss_d, **losses, "grad_norm_g": norm_g, "grad_norm_d": norm_d}


def _generate(m: StepModules, batch: Batch, starts: torch.Tensor, precision: Any) -> GeneratorOutput:
    with precision.autocast():
        return m.generator(batch, starts)


def _generator_losses(
    out: GeneratorOutput,
    fe: FrontEnd,
    fake: list[torch.Tensor],
    fmap_real: list[list[torch.Tensor]],
    fmap_fake: list[list[torch.Tensor]],
    c_mel: float,
    c_kl: float,
) -> dict[str, torch.Tensor]:
    """The generator objective's terms (upstream's weights) and their sum ``loss_g``."""
    mel_error = torch.nn.functional.l1_loss(fe.spec_to_mel(out.target_spec), fe.mel(out.audio.float().squeeze(1)))
    terms = {
        "loss_mel": mel_error * c_mel,
        "loss_kl": kl_loss(out.z_p, out.logs_q, out.m_p, out.logs_p, out.mask) * c_kl,
        "loss_fm": feature_matching_loss(fmap_real, fmap_fake),
        "loss_gen": generator_loss(fake),
    }
    return {"loss_g": terms["loss_gen"] + terms["loss_fm"] + terms["loss_mel"] + terms["loss_kl"], **terms}


def _update_discriminator(
    m: StepModules, real: torch.Tensor, fake: torch.Tensor, precision: Any, opt: Optimisers
) -> tuple[torch.Tensor, torch.Tensor]:
    """D's update on real and (detached) generated audio; returns its loss and gradient norm.

    Up to :data:`SHARED_D_PASS_MAX` items, both go through D in one batch (half the launches). Above it the
    step is compute-bound, and memory matters more: real audio is judged and back-propagated first, then the
    generated audio, so D keeps one batch of activations at a time. The gradient is the same sum either way.
    """
    n = real.shape[0]
    opt.opt_d.zero_grad(set_to_none=True)
    if n <= SHARED_D_PASS_MAX:
        with precision.autocast():
            scores, _ = m.critic(torch.cat([real, fake.to(real.dtype)]))
        loss = discriminator_loss([s[:n] for s in scores], [s[n:] for s in scores])
        opt.scaler.scale(loss).backward()
    else:
        with _no_sync(m.critic):  # DDP: reduce once, after both halves
            with precision.autocast():
                real_loss = real_scores_loss(m.critic(real)[0])
            opt.scaler.scale(real_loss).backward()
        with precision.autocast():
            fake_loss = fake_scores_loss(m.critic(fake)[0])
        opt.scaler.scale(fake_loss).backward()
        loss = real_loss.detach() + fake_loss.detach()
    return loss, _finish_update(opt.opt_d, opt.scaler, m.disc)


def _no_sync(module: nn.Module) -> contextlib.AbstractContextManager:
    """DDP's ``no_sync`` (gradients accumulate locally until the next backward outside it), else nothing."""
    no_sync = getattr(module, "no_sync", None)
    return no_sync() if no_sync is not None else contextlib.nullcontext()


def reference_step(
    m: StepModules,
    batch: Batch,
    starts: torch.Tensor,
    fe: FrontEnd,
    c_mel: float,
    c_kl: float,
    precision: Any,
    opt: Optimisers,
) -> dict[str, float]:
    """The same step written straightforwardly, as upstream does (see the module docstring)."""
    out = _generate(m, batch, starts, precision)
    with precision.autocast():
        real, fake, _, _ = m.disc(out.target_wav, out.audio.detach())
    loss_d = discriminator_loss(real, fake)
    norm_d = _update(loss_d, opt.opt_d, opt.scaler, m.disc)

    with precision.autocast():
        _, fake, fmap_real, fmap_fake = m.disc(out.target_wav, out.audio)
    losses = _generator_losses(out, fe, fake, fmap_real, fmap_fake, c_mel, c_kl)
    norm_g = _update(losses["loss_g"], opt.opt_g, opt.scaler, m.net)
    opt.scaler.update()
    values = {"loss_d": loss_d, **losses, "grad_norm_g": norm_g, "grad_norm_d": norm_d}
    return {k: float(v.detach()) for k, v in values.items()}


def read_scalars(values: dict[str, torch.Tensor]) -> dict[str, float]:
    """All of a step's 0-d tensors as floats, in one device-to-host transfer."""
    keys = list(values)
    return dict(zip(keys, torch.stack([values[k].detach().float() for k in keys]).tolist(), strict=True))


def make_optimiser(params: Any, opts: Any) -> torch.optim.Optimizer:
    """AdamW with the run's hyper-parameters, fused: one kernel updates every tensor (CPU and CUDA), where
    torch's default issues several per tensor or per group of tensors."""
    return torch.optim.AdamW(
        params, lr=opts.lr, betas=opts.betas, eps=opts.eps, weight_decay=opts.weight_decay, fused=True
    )


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters of ``module`` stop requiring gradients inside the block (and are restored after it)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _update(
    loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, module: nn.Module
) -> torch.Tensor:
    """Back-propagate ``loss`` (scaled for fp16), unscale, take the optimizer step; return the gradient norm."""
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    return _finish_update(opt, scaler, module)


def _finish_update(opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, module: nn.Module) -> torch.Tensor:
    """Unscale the accumulated gradients, take the optimizer step; return the gradient norm (0 when no
    parameter received a gradient, e.g. every trainable tensor was cut off from the loss)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:  # nothing to unscale or step (GradScaler.step would find no inf check to act on)
        return torch.zeros((), device=next(module.parameters(), torch.empty(0)).device)
    scaler.unscale_(opt)
    norm = torch.nn.utils.get_total_norm(grads)
    scaler.step(opt)
    return norm
