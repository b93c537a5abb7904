"""The synthesizer's random draws at forward time, and a per-thread switch that makes them zeros.

RVC samples noise while it runs: the prior and posterior samples, the NSF source's phases and noise, and the
training slice's start. Matching the reference fixtures, or comparing two sets of weights on one input, needs
that noise off. :func:`without_noise` switches it off for the calling thread only, so a compress run in one
thread cannot silence the conversions of another (patching ``torch.randn`` would). Outside the block every
draw is the plain torch call, looked up at call time: same RNG stream, dtype and device as before.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch

_state = threading.local()


def noise_enabled() -> bool:
    """False inside :func:`without_noise` in this thread."""
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def without_noise() -> Iterator[None]:
    """Inside the block, this thread's draws are zeros (the reference fixtures' zero-noise mode). Nests."""
    previous = noise_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = previous


def randn_like(x: torch.Tensor) -> torch.Tensor:
    """``torch.randn_like(x)``, or zeros like ``x`` with the noise off."""
    return torch.randn_like(x) if noise_enabled() else torch.zeros_like(x)


def rand(*size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``torch.rand(*size, device=device)`` (default dtype), or zeros with the noise off."""
    return torch.rand(*size, device=device) if noise_enabled() else torch.zeros(*size, device=device)
