"""Aligned random segments: one place decides where a training window starts and cuts every stream there.

The decoder sees ``segment`` latent frames; the target waveform, the target spectrogram and the pitch must
be cut from exactly the same frames, or the losses compare different sounds. Computing the start frames
and applying them in one function (vectorised, no per-item loop) makes a misaligned slice impossible.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def random_starts(lengths: torch.Tensor, segment: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Start frame per item, uniform over the positions where a full window fits (0 when it never fits).

    Drawn from ``generator`` (not the global RNG) so every DDP rank can draw the whole global batch's
    starts identically and take its share — the same windows a single process would use.
    """
    max_start = (lengths.long() - segment).clamp(min=0) + 1
    u = torch.rand(lengths.shape[0], generator=generator, device="cpu")
    return (u * max_start.cpu().double()).long().clamp(max=max_start.cpu() - 1).to(lengths.device)


def slice_aligned(
    starts: torch.Tensor, segment: int, streams: Sequence[tuple[torch.Tensor, int]]
) -> list[torch.Tensor]:
    """Cut ``segment`` frames at ``starts`` from every stream.

    Each stream is ``(tensor, samples_per_frame)``: a ``[B, C, T·spf]`` or ``[B, T·spf]`` tensor (e.g. the
    latent with spf 1, the waveform with spf = hop). Streams shorter than the window are zero-padded, which
    only happens for clips shorter than one segment. ``starts`` is best a CPU tensor: the padding decision
    is then made on the host, without waiting for the GPU.
    """
    host = starts.detach().long().cpu()
    last = int(host.max()) + segment if host.numel() else 0
    out = []
    for x, spf in streams:
        flat = x.dim() == 2
        x3 = x.unsqueeze(1) if flat else x
        width = segment * spf
        idx = host.to(x.device, non_blocking=True)[:, None] * spf + torch.arange(width, device=x.device)[None, :]
        need = last * spf
        if need > x3.shape[-1]:
            x3 = torch.nn.functional.pad(x3, (0, need - x3.shape[-1]))
        cut = x3.gather(2, idx[:, None, :].expand(x3.shape[0], x3.shape[1], width))
        out.append(cut.squeeze(1) if flat else cut)
    return out
