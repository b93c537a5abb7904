"""The generator's training forward, composed here so the slice is decided in exactly one place.

Upstream's ``forward`` draws the window itself and returns its ids for the caller to cut the targets; here
the starts come in (drawn once per global batch, see :mod:`rvclora.train.slicing`) and the latent, pitch,
target spectrogram and target waveform are all cut by :func:`slice_aligned` in the same call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from rvclora.train.data import Batch
from rvclora.train.slicing import slice_aligned

if TYPE_CHECKING:
    from rvclora.models.synthesizer import Synthesizer


@dataclass
class GeneratorOutput:
    audio: torch.Tensor  # [B, 1, segment·hop] generated
    target_wav: torch.Tensor  # [B, 1, segment·hop]
    target_spec: torch.Tensor  # [B, F, segment]
    z_p: torch.Tensor
    m_p: torch.Tensor
    logs_p: torch.Tensor
    logs_q: torch.Tensor
    mask: torch.Tensor  # posterior mask [B, 1, T]


class TrainingGenerator(nn.Module):
    """Wraps a synthesizer (``.net``) for training; DDP wraps this module, so gradients sync on its forward."""

    def __init__(self, net: Synthesizer, segment: int, hop: int) -> None:
        super().__init__()
        self.net = net
        self.segment = segment
        self.hop = hop

    def forward(self, batch: Batch, starts: torch.Tensor) -> GeneratorOutput:
        net = self.net
        g = net.emb_g(batch.sid).unsqueeze(-1)
        m_p, logs_p, _ = net.enc_p(batch.phone, batch.pitch, batch.lengths)
        z, _, logs_q, y_mask = net.enc_q(batch.spec, batch.lengths, g=g)
        z_p = net.flow(z, y_mask, g=g)
        streams = [(z, 1), (batch.spec, 1), (batch.wav, self.hop)]
        if batch.pitchf is not None:
            streams.append((batch.pitchf, 1))
        cut = slice_aligned(starts, self.segment, streams)
        z_cut, spec_cut, wav_cut = cut[:3]
        f0_cut = cut[3] if batch.pitchf is not None else None
        audio = net.dec(z_cut, f0_cut, g=g)
        return GeneratorOutput(audio, wav_cut, spec_cut, z_p, m_p, logs_p, logs_q, y_mask)
