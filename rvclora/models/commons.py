"""Small tensor helpers shared by the RVC modules (masks, slicing, gated activation)."""

from __future__ import annotations

import torch

from rvclora.models import noise


def sequence_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    """Boolean ``[B, T]`` mask, True for the first ``lengths[b]`` positions."""
    if max_length is None:
        max_length = int(lengths.max())
    positions = torch.arange(max_length, dtype=lengths.dtype, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def slice_segments(x: torch.Tensor, starts: torch.Tensor, size: int) -> torch.Tensor:
    """Per batch item, the ``size`` steps of the last axis from ``starts[b]`` (x is ``[B, ..., T]``)."""
    return torch.stack([x[b, ..., int(s) : int(s) + size] for b, s in enumerate(starts)])


def rand_slice_segments(x: torch.Tensor, lengths: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random ``size``-frame window per item within its valid length (RVC's training slice).

    The start is ``floor(rand · (length − size + 1))``: zero under :func:`~rvclora.models.noise.without_noise`.
    """
    max_start = lengths - size + 1
    starts = (noise.rand(x.size(0), device=x.device) * max_start).to(dtype=torch.long)
    return slice_segments(x, starts, size), starts


def gated_activation(a: torch.Tensor, b: torch.Tensor, channels: int) -> torch.Tensor:
    """WaveNet gate: tanh(first half of a+b) · sigmoid(second half)."""
    s = a + b
    return torch.tanh(s[:, :channels]) * torch.sigmoid(s[:, channels:])
