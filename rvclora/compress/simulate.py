"""A simulated fine-tune: a test and benchmark aid for the compress stage, not a step of any workflow.

A real voice needs ``rvclora train --full`` on a prepared workspace and minutes of CPU. This gives a "voice"
in milliseconds with the structure real fine-tunes have, a dominant low-rank change over a diffuse one, so
compress's expected behaviour is checkable: its error falls with the rank and vanishes at full rank.
"""

from __future__ import annotations

import torch
from torch import nn

#: absolute size of the random change of every 1-D parameter (biases, norms: stored whole by compress)
VECTOR_CHANGE = 0.01


@torch.no_grad()
def simulate_fine_tune(model: nn.Module, seed: int, true_rank: int, change: float, noise: float) -> nn.Module:
    """Change ``model`` in place and return it: every weight by a random rank-``true_rank`` part of ``change`` of
    its norm plus full-rank noise of ``noise`` of it. Seeded by ``seed`` alone; the global RNG is untouched."""
    g = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        m = p.reshape(p.shape[0], -1)
        scale = float(m.norm())
        if p.ndim >= 2:
            low = torch.randn(m.shape[0], true_rank, generator=g) @ torch.randn(true_rank, m.shape[1], generator=g)
            diffuse = torch.randn(m.shape, generator=g) * scale * noise / m.numel() ** 0.5
            delta = low / low.norm() * scale * change + diffuse
        else:
            delta = torch.randn(m.shape, generator=g) * VECTOR_CHANGE
        p.add_(delta.reshape(p.shape))
    return model
