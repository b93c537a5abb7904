"""The RVC/VITS training objective (rvc-interop.md §6): LSGAN, feature matching, mel L1 and the KL term.

All losses are computed in fp32 whatever the autocast precision, as upstream does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

FM_WEIGHT = 2.0


def _towards(scores: Sequence[torch.Tensor], target: float) -> torch.Tensor:
    """Σ over sub-discriminators of mean((target − score)²), in fp32 (LSGAN)."""
    total = scores[0].new_zeros((), dtype=torch.float32)
    for s in scores:
        total = total + torch.mean((target - s.float()) ** 2)
    return total


def discriminator_loss(real: Sequence[torch.Tensor], fake: Sequence[torch.Tensor]) -> torch.Tensor:
    """LSGAN: push scores of real audio to 1 and of generated audio to 0, summed over sub-discriminators."""
    return real_scores_loss(real) + fake_scores_loss(fake)


def real_scores_loss(real: Sequence[torch.Tensor]) -> torch.Tensor:
    """The real-audio half of :func:`discriminator_loss`."""
    return _towards(real, 1.0)


def fake_scores_loss(fake: Sequence[torch.Tensor]) -> torch.Tensor:
    """The generated-audio half of :func:`discriminator_loss`."""
    return _towards(fake, 0.0)


def generator_loss(fake: Sequence[torch.Tensor]) -> torch.Tensor:
    """LSGAN generator side: generated scores towards 1."""
    return _towards(fake, 1.0)


def feature_matching_loss(
    fmap_real: Sequence[Sequence[torch.Tensor]], fmap_fake: Sequence[Sequence[torch.Tensor]]
) -> torch.Tensor:
    """2 × Σ mean |D-features(real) − D-features(fake)|; real features are constants for the generator."""
    total = torch.zeros((), dtype=torch.float32, device=fmap_fake[0][0].device)
    for layers_r, layers_f in zip(fmap_real, fmap_fake, strict=True):
        for r, f in zip(layers_r, layers_f, strict=True):
            total = total + torch.mean(torch.abs(r.detach().float() - f.float()))
    return total * FM_WEIGHT


def kl_loss(
    z_p: torch.Tensor, logs_q: torch.Tensor, m_p: torch.Tensor, logs_p: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """KL between the flowed posterior sample and the prior, averaged over unmasked positions."""
    z_p, logs_q, m_p, logs_p, mask = (t.float() for t in (z_p, logs_q, m_p, logs_p, mask))
    kl = logs_p - logs_q - 0.5 + 0.5 * (z_p - m_p) ** 2 * torch.exp(-2.0 * logs_p)
    return torch.sum(kl * mask) / torch.sum(mask)
