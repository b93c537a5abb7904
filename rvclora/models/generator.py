"""The decoder: HiFi-GAN upsampling generator, with (GeneratorNSF) or without (Generator) an NSF source."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from rvclora.models.modules import LRELU_SLOPE, ResBlock1, ResBlock2
from rvclora.models.nsf import SourceModuleHnNSF
from rvclora.models.weightnorm import WNConvTranspose1d


class Generator(nn.Module):
    """Latent ``[B, C, T]`` → waveform ``[B, 1, T·hop]``; ``GeneratorNSF`` adds the pitch excitation.

    Submodule creation order reproduces upstream's state_dict order
    (m_source, noise_convs, conv_pre, ups, resblocks, conv_post, cond).
    """

    def __init__(
        self,
        initial_channel: int,
        resblock: str,
        resblock_kernel_sizes: list[int],
        resblock_dilation_sizes: list[list[int]],
        upsample_rates: list[int],
        upsample_initial_channel: int,
        upsample_kernel_sizes: list[int],
        gin_channels: int = 0,
        sr: int | None = None,
    ) -> None:
        super().__init__()
        self.num_kernels = len(resblock_kernel_sizes)
        self.num_upsamples = len(upsample_rates)
        self.upp = math.prod(upsample_rates)
        if sr is not None:
            self.m_source = SourceModuleHnNSF(sampling_rate=sr, harmonic_num=0)
            self.noise_convs = nn.ModuleList()
        self.conv_pre = nn.Conv1d(initial_channel, upsample_initial_channel, 7, 1, padding=3)
        block = ResBlock1 if resblock == "1" else ResBlock2
        self.ups = nn.ModuleList()
        for i, (u, k) in enumerate(zip(upsample_rates, upsample_kernel_sizes, strict=False)):
            c_in, c_out = upsample_initial_channel // 2**i, upsample_initial_channel // 2 ** (i + 1)
            self.ups.append(WNConvTranspose1d(c_in, c_out, k, u, padding=(k - u) // 2))
            if sr is not None:
                if i + 1 < self.num_upsamples:
                    stride = math.prod(upsample_rates[i + 1 :])
                    self.noise_convs.append(
                        nn.Conv1d(1, c_out, kernel_size=stride * 2, stride=stride, padding=stride // 2)
                    )
                else:
                    self.noise_convs.append(nn.Conv1d(1, c_out, kernel_size=1))
        self.resblocks = nn.ModuleList()
        ch = upsample_initial_channel
        for i in range(self.num_upsamples):
            ch = upsample_initial_channel // 2 ** (i + 1)
            for k, d in zip(resblock_kernel_sizes, resblock_dilation_sizes, strict=False):
                self.resblocks.append(block(ch, k, d))
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3, bias=False)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, upsample_initial_channel, 1)

    @property
    def has_source(self) -> bool:
        return hasattr(self, "m_source")

    def forward(
        self,
        x: torch.Tensor,
        f0: torch.Tensor | None = None,
        g: torch.Tensor | None = None,
        n_res: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        """Decode; ``f0`` ``[B, T]`` Hz is required by the NSF decoder; ``n_res`` resamples to that many frames."""
        har_source = None
        if self.has_source:
            if f0 is None:
                raise ValueError("the NSF decoder needs f0")
            har_source = self.m_source(f0, self.upp).transpose(1, 2)
        if n_res is not None:
            n = int(n_res.item()) if isinstance(n_res, torch.Tensor) else int(n_res)
            if har_source is not None and n * self.upp != har_source.shape[-1]:
                har_source = F.interpolate(har_source, size=n * self.upp, mode="linear")
            if n != x.shape[-1]:
                x = F.interpolate(x, size=n, mode="linear")
        x = self.conv_pre(x)
        if g is not None:
            x = x + self.cond(g)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            if har_source is not None:
                x = x + self.noise_convs[i](har_source)
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            xs = blocks[0](x)
            for block in blocks[1:]:
                xs = xs + block(x)
            x = xs / self.num_kernels
        x = self.conv_post(F.leaky_relu(x))  # default slope 0.01 here, as upstream
        return torch.tanh(x)


class GeneratorNSF(Generator):
    """The f0 decoder: adds ``m_source`` and one ``noise_convs`` entry per upsample stage."""

    def __init__(
        self,
        initial_channel: int,
        resblock: str,
        resblock_kernel_sizes: list[int],
        resblock_dilation_sizes: list[list[int]],
        upsample_rates: list[int],
        upsample_initial_channel: int,
        upsample_kernel_sizes: list[int],
        gin_channels: int,
        sr: int,
        is_half: bool = False,
    ) -> None:
        super().__init__(
            initial_channel,
            resblock,
            resblock_kernel_sizes,
            resblock_dilation_sizes,
            upsample_rates,
            upsample_initial_channel,
            upsample_kernel_sizes,
            gin_channels,
            sr=sr,
        )
