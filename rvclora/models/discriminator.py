"""RVC's multi-period discriminator (training only): one scale discriminator + period discriminators.

v1 uses periods [2, 3, 5, 7, 11, 17], v2 adds 23 and 37. Every conv is weight-normed, so keys match
upstream's ``f0D40k.pth``-style files (``discriminators.N.convs.M.weight_g``/``weight_v``).

``width_divisor`` (a power of two, 1 = upstream) divides every channel count and conv group count: the same
architecture, narrower, for CPU smoke runs, tests and the demo. A D file's divisor is read from its shapes.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn
from torch.nn import functional as F

from rvclora.models.modules import LRELU_SLOPE, get_padding
from rvclora.models.weightnorm import WNConv1d, WNConv2d

PERIODS = {"v1": (2, 3, 5, 7, 11, 17), "v2": (2, 3, 5, 7, 11, 17, 23, 37)}

Scores = tuple[torch.Tensor, list[torch.Tensor]]


def _conv_stack(convs: nn.ModuleList, post: nn.Module, x: torch.Tensor) -> Scores:
    """LeakyReLU after every conv, then the raw post conv; every activation is a feature map."""
    fmap = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU_SLOPE)
        fmap.append(x)
    x = post(x)
    fmap.append(x)
    return torch.flatten(x, 1, -1), fmap


def _narrow(n: int, divisor: int) -> int:
    return max(1, n // divisor)


class DiscriminatorS(nn.Module):
    """Scale discriminator on the raw waveform: grouped strided 1-D convs."""

    def __init__(self, width_divisor: int = 1) -> None:
        super().__init__()
        c = [_narrow(n, width_divisor) for n in (16, 64, 256, 1024)]
        g = [_narrow(n, width_divisor) for n in (4, 16, 64, 256)]
        self.convs = nn.ModuleList(
            [
                WNConv1d(1, c[0], 15, 1, padding=7),
                WNConv1d(c[0], c[1], 41, 4, groups=g[0], padding=20),
                WNConv1d(c[1], c[2], 41, 4, groups=g[1], padding=20),
                WNConv1d(c[2], c[3], 41, 4, groups=g[2], padding=20),
                WNConv1d(c[3], c[3], 41, 4, groups=g[3], padding=20),
                WNConv1d(c[3], c[3], 5, 1, padding=2),
            ]
        )
        self.conv_post = WNConv1d(c[3], 1, 3, 1, padding=1)

    def forward(self, x: torch.Tensor) -> Scores:
        return _conv_stack(self.convs, self.conv_post, x)


class DiscriminatorP(nn.Module):
    """Period discriminator: the waveform folded to ``[B, 1, T/p, p]``, 2-D convs along time."""

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3, width_divisor: int = 1) -> None:
        super().__init__()
        self.period = period
        pad = (get_padding(kernel_size, 1), 0)
        chans = [1] + [_narrow(n, width_divisor) for n in (32, 128, 512, 1024)]
        top = chans[-1]
        self.convs = nn.ModuleList(
            [WNConv2d(a, b, (kernel_size, 1), (stride, 1), padding=pad) for a, b in pairwise(chans)]
            + [WNConv2d(top, top, (kernel_size, 1), 1, padding=pad)]
        )
        self.conv_post = WNConv2d(top, 1, (3, 1), 1, padding=(1, 0))

    def forward(self, x: torch.Tensor) -> Scores:
        b, c, t = x.shape
        if t % self.period:
            n_pad = self.period - t % self.period
            x = F.pad(x, (0, n_pad), "reflect")
            t += n_pad
        x = x.view(b, c, t // self.period, self.period)
        return _conv_stack(self.convs, self.conv_post, x)


class MultiPeriodDiscriminator(nn.Module):
    """RVC's MultiPeriodDiscriminator (v1) / MultiPeriodDiscriminatorV2 (v2)."""

    def __init__(self, version: str = "v2", width_divisor: int = 1, periods: tuple[int, ...] | None = None) -> None:
        super().__init__()
        if version not in PERIODS:
            raise ValueError(f"unknown RVC version {version!r}")
        if width_divisor < 1 or width_divisor & (width_divisor - 1):
            raise ValueError(f"width_divisor must be a power of two, got {width_divisor}")
        self.version = version
        self.width_divisor = width_divisor
        self.discriminators = nn.ModuleList(
            [
                DiscriminatorS(width_divisor),
                *(DiscriminatorP(p, width_divisor=width_divisor) for p in (periods or PERIODS[version])),
            ]
        )

    def judge(self, audio: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """Scores and feature maps of one batch ``[B, 1, samples]``, per sub-discriminator.

        No layer mixes batch items, so real and generated audio can be judged in one concatenated batch.
        """
        scores, maps = [], []
        for d in self.discriminators:
            s, f = d(audio)
            scores.append(s)
            maps.append(f)
        return scores, maps

    def forward(
        self, y: torch.Tensor, y_hat: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[list[torch.Tensor]], list[list[torch.Tensor]]]:
        """Scores and feature maps for real ``y`` and generated ``y_hat`` (``[B, 1, samples]``)."""
        real_scores, fake_scores, real_maps, fake_maps = [], [], [], []
        for d in self.discriminators:
            r, fr = d(y)
            g, fg = d(y_hat)
            real_scores.append(r)
            fake_scores.append(g)
            real_maps.append(fr)
            fake_maps.append(fg)
        return real_scores, fake_scores, real_maps, fake_maps
