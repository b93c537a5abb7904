"""The RMVPE pitch network (upstream ``E2E``) in plain torch, with upstream's state_dict key names.

Only the architecture lives here; reading checkpoints, the mel front end and decoding are in
:mod:`rvclora.features.rmvpe`. The sizes are parameters (:class:`RmvpeArch`) and are read back from a
state_dict's shapes, so the published ``rmvpe.pt`` and the tiny test fixture load through the same code.

Shape of the network: log-mel ``[B, 128, T]`` → a U-Net over (time, mel) with residual conv blocks →
a 3-channel conv → ``[B, T, 3·128]`` → bidirectional GRU → linear → sigmoid salience ``[B, T, 360]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

N_MELS = 128
N_BINS = 360  # 20-cent pitch bins
GRU_HIDDEN = 256
BN_MOMENTUM = 0.01


@dataclass(frozen=True)
class RmvpeArch:
    """Sizes of an RMVPE network (upstream ``E2E(n_blocks, n_gru, kernel_size, ...)``).

    ``pool`` (upstream ``kernel_size``) has no weights, so it cannot be read from a checkpoint; every
    published RMVPE uses (2, 2).
    """

    n_blocks: int = 4
    n_gru: int = 1
    en_de_layers: int = 5
    inter_layers: int = 4
    in_channels: int = 1
    en_out_channels: int = 16
    pool: tuple[int, int] = (2, 2)

    @property
    def time_multiple(self) -> int:
        """Frames must be a multiple of this for the pooling/unpooling to line up."""
        return self.pool[0] ** self.en_de_layers

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> RmvpeArch:
        """Infer the sizes from key names and shapes. Raises KeyError naming the first missing key."""

        def count(pattern: str) -> int:
            found = {m.group(1) for k in state if (m := re.fullmatch(pattern, k))}
            return len(found)

        first = state["unet.encoder.layers.0.conv.0.conv.0.weight"]
        n_gru = count(r"fc\.0\.gru\.weight_ih_l(\d+)")
        return cls(
            n_blocks=count(r"unet\.encoder\.layers\.0\.conv\.(\d+)\..*"),
            n_gru=n_gru,
            en_de_layers=count(r"unet\.encoder\.layers\.(\d+)\..*"),
            inter_layers=count(r"unet\.intermediate\.layers\.(\d+)\..*"),
            in_channels=int(first.shape[1]),
            en_out_channels=int(first.shape[0]),
        )


class ResBlock(nn.Module):
    """Two 3×3 conv-BN-ReLU layers plus a residual path (a 1×1 conv when the channel count changes)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout, momentum=BN_MOMENTUM),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout, momentum=BN_MOMENTUM),
            nn.ReLU(),
        )
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.shortcut is None else self.shortcut(x)
        return self.conv(x) + skip


class ResStack(nn.Module):
    """``n_blocks`` ResBlocks (``.conv.{j}``): the body of every encoder and intermediate stage."""

    def __init__(self, cin: int, cout: int, n_blocks: int) -> None:
        super().__init__()
        self.conv = nn.ModuleList([ResBlock(cin if j == 0 else cout, cout) for j in range(n_blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.conv:
            x = block(x)
        return x


class DecoderStage(nn.Module):
    """Upsample ×2 with a transposed conv (``conv1``), concatenate the skip, then a ResBlock stack (``conv2``)."""

    def __init__(self, cin: int, cout: int, n_blocks: int, stride: tuple[int, int]) -> None:
        super().__init__()
        out_pad = (0, 1) if tuple(stride) == (1, 2) else (1, 1)
        self.conv1 = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, 3, stride=stride, padding=1, output_padding=out_pad, bias=False),
            nn.BatchNorm2d(cout, momentum=BN_MOMENTUM),
            nn.ReLU(),
        )
        self.conv2 = nn.ModuleList([ResBlock(2 * cout if j == 0 else cout, cout) for j in range(n_blocks)])

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = torch.cat((self.conv1(x), skip), dim=1)
        for block in self.conv2:
            x = block(x)
        return x


class Encoder(nn.Module):
    def __init__(self, arch: RmvpeArch) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(arch.in_channels, momentum=BN_MOMENTUM)
        widths = [arch.in_channels] + [arch.en_out_channels * 2**i for i in range(arch.en_de_layers)]
        self.layers = nn.ModuleList(
            [ResStack(widths[i], widths[i + 1], arch.n_blocks) for i in range(arch.en_de_layers)]
        )
        self.pool = nn.AvgPool2d(arch.pool)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.bn(x)
        skips = []
        for stage in self.layers:
            x = stage(x)
            skips.append(x)  # the skip is taken before pooling
            x = self.pool(x)
        return x, skips


class Intermediate(nn.Module):
    def __init__(self, arch: RmvpeArch) -> None:
        super().__init__()
        cin = arch.en_out_channels * 2 ** (arch.en_de_layers - 1)
        self.layers = nn.ModuleList(
            [ResStack(cin if i == 0 else 2 * cin, 2 * cin, arch.n_blocks) for i in range(arch.inter_layers)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.layers:
            x = stage(x)
        return x


class Decoder(nn.Module):
    def __init__(self, arch: RmvpeArch) -> None:
        super().__init__()
        top = arch.en_out_channels * 2**arch.en_de_layers
        self.layers = nn.ModuleList(
            [DecoderStage(top >> i, top >> (i + 1), arch.n_blocks, arch.pool) for i in range(arch.en_de_layers)]
        )

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        for stage, skip in zip(self.layers, reversed(skips), strict=True):
            x = stage(x, skip)
        return x


class DeepUNet(nn.Module):
    def __init__(self, arch: RmvpeArch) -> None:
        super().__init__()
        self.encoder = Encoder(arch)
        self.intermediate = Intermediate(arch)
        self.decoder = Decoder(arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, skips = self.encoder(x)
        return self.decoder(self.intermediate(x), skips)


class BiGRU(nn.Module):
    """A batch-first bidirectional GRU that returns only the output sequence (``fc.0.gru``).

    ``windows`` = (chunk, margin) runs long sequences as overlapping windows in one batch instead of one
    sequence: a GRU steps through time one frame after another, so on a GPU a 60 s input (6,000 frames) is
    6,000 small sequential steps, while as windows of ``chunk + 2·margin`` frames it is a few hundred steps of
    a larger batch. Each frame is taken from the window where it has at least ``margin`` frames of context on
    both sides (or the sequence's own end): a GRU's memory fades, so with enough margin the output is the
    one-sequence output up to rounding (tests/features/test_rmvpe_windows.py). None: one sequence (exact).
    """

    def __init__(self, n_in: int, hidden: int, n_layers: int) -> None:
        super().__init__()
        self.gru = nn.GRU(n_in, hidden, num_layers=n_layers, batch_first=True, bidirectional=True)
        self.windows: tuple[int, int] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.windows is None or x.shape[1] <= sum(self.windows) + self.windows[1]:
            return self.gru(x)[0]
        return windowed_gru(self.gru, x, *self.windows)


def window_starts(frames: int, chunk: int, margin: int) -> list[int]:
    """Start of each window of ``chunk + 2·margin`` frames (all inside ``[0, frames)``) that covers chunk
    ``i`` (frames ``i·chunk`` … ``(i+1)·chunk``) with ``margin`` frames of context on each side, except where
    the sequence itself starts or ends (then the window is shifted inwards, and the context there is exact)."""
    width = chunk + 2 * margin
    return [min(max(i - margin, 0), frames - width) for i in range(0, frames, chunk)]


def windowed_gru(gru: nn.GRU, x: torch.Tensor, chunk: int, margin: int) -> torch.Tensor:
    """``gru(x)[0]`` for ``x`` ``[B, T, D]`` (T ≥ chunk + 2·margin) through overlapping windows, one batch."""
    b, frames, _ = x.shape
    width = chunk + 2 * margin
    starts = window_starts(frames, chunk, margin)
    windows = torch.stack([x[:, s : s + width] for s in starts], dim=1).flatten(0, 1)  # [B·n, width, D]
    out = gru(windows)[0].unflatten(0, (b, len(starts)))  # [B, n, width, 2H]
    pieces = [
        out[:, i, c - s : min(c + chunk, frames) - s]
        for i, (c, s) in enumerate(zip(range(0, frames, chunk), starts, strict=True))
    ]
    return torch.cat(pieces, dim=1)


class RmvpeNet(nn.Module):
    """Upstream ``E2E``: log-mel ``[B, 128, T]`` → pitch salience ``[B, T, 360]`` in 0..1.

    ``T`` must be a multiple of ``arch.time_multiple``; :mod:`rvclora.features.rmvpe` pads and crops.
    """

    def __init__(self, arch: RmvpeArch) -> None:
        super().__init__()
        self.arch = arch
        self.unet = DeepUNet(arch)
        self.cnn = nn.Conv2d(arch.en_out_channels, 3, 3, padding=1)
        if arch.n_gru:
            head: list[nn.Module] = [BiGRU(3 * N_MELS, GRU_HIDDEN, arch.n_gru), nn.Linear(2 * GRU_HIDDEN, N_BINS)]
        else:
            head = [nn.Linear(3 * N_MELS, N_BINS)]
        self.fc = nn.Sequential(*head, nn.Dropout(0.25), nn.Sigmoid())

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = mel.transpose(-1, -2).unsqueeze(1)  # [B, 1, T, mels]
        x = self.cnn(self.unet(x))  # [B, 3, T, mels]
        x = x.transpose(1, 2).flatten(-2)  # [B, T, 3·mels]
        return self.fc(x)
