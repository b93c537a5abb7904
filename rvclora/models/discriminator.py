"""RVC's multi-period discriminator (training only): one scale discriminator + period discriminators.

v1 uses periods [2, 3, 5, 7, 11, 17], v2 adds 23 and 37. Every conv is weight-normed, so keys match
upstream's ``f0D40k.pth``-style files (``discriminators.N.convs.M.weight_g``/``weight_v``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from rvclora.models.modules import LRELU_SLOPE, get_padding
from rvclora.models.weightnorm import WNConv1d, WNConv2d

PERIODS = {"v1": (2, 3, 5, 7, 11, 17), "v2": (2, 3, 5, 7, 11, 17, 23, 37)}

Scores = tuple[torch.Tensor, list[torch.Tensor]]


class DiscriminatorS(nn.Module):
    """Scale discriminator on the raw waveform: grouped strided 1-D convs."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList([
            WNConv1d(1, 16, 15, 1, padding=7),
            WNConv1d(16, 64, 41, 4, groups=4, padding=20),
            WNConv1d(64, 256, 41, 4, groups=16, padding=20),
            WNConv1d(256, 1024, 41, 4, groups=64, padding=20),
            WNConv1d(1024, 1024, 41, 4, groups=256, padding=20),
            WNConv1d(1024, 1024, 5, 1, padding=2),
        ])
        self.conv_post = WNConv1d(1024, 1, 3, 1, padding=1)

    def forward(self, x: torch.Tensor) -> Scores:
        fmap = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class DiscriminatorP(nn.Module):
    """Period discriminator: the waveform folded to ``[B, 1, T/p, p]``, 2-D convs along time."""

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3) -> None:
        super().__init__()
        self.period = period
        pad = (get_padding(kernel_size, 1), 0)
        chans = [1, 32, 128, 512, 1024]
        self.convs = nn.ModuleList(
            [WNConv2d(a, b, (kernel_size, 1), (stride, 1), padding=pad) for a, b in zip(chans, chans[1:])]
            + [WNConv2d(1024, 1024, (kernel_size, 1), 1, padding=pad)])
        self.conv_post = WNConv2d(1024, 1, (3, 1), 1, padding=(1, 0))

    def forward(self, x: torch.Tensor) -> Scores:
        b, c, t = x.shape
        if t % self.period:
            n_pad = self.period - t % self.period
            x = F.pad(x, (0, n_pad), "reflect")
            t += n_pad
        x = x.view(b, c, t // self.period, self.period)
        fmap = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class MultiPeriodDiscriminator(nn.Module):
    """RVC's MultiPeriodDiscriminator (v1) / MultiPeriodDiscriminatorV2 (v2)."""

    def __init__(self, version: str = "v2") -> None:
        super().__init__()
        if version not in PERIODS:
            raise ValueError(f"unknown RVC version {version!r}")
        self.version = version
        self.discriminators = nn.ModuleList(
            [DiscriminatorS(), *(DiscriminatorP(p) for p in PERIODS[version])])

    def forward(self, y: torch.Tensor, y_hat: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor],
                                                                     list[list[torch.Tensor]],
                                                                     list[list[torch.Tensor]]]:
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
