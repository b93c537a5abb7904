"""Neural source-filter excitation: the sine source that gives RVC's f0 decoder its pitch.

This is the formulation of upstream ``main`` (and tag 2.2.231006), which the reference fixtures use:
per-frame phase increments are accumulated, linearly interpolated to the sample rate and wrapped, and
the wrap points become −1 corrections so the per-sample phase stays continuous. All randomness goes
through :mod:`rvclora.models.noise`, so :func:`~rvclora.models.noise.without_noise` switches it off.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from rvclora.models import noise


class SineGen(nn.Module):
    """Sine (plus ``harmonic_num`` overtones) at the frame-wise f0, with noise; unvoiced frames get noise only."""

    def __init__(
        self,
        samp_rate: int,
        harmonic_num: int = 0,
        sine_amp: float = 0.1,
        noise_std: float = 0.003,
        voiced_threshold: float = 0.0,
    ) -> None:
        super().__init__()
        self.sampling_rate = samp_rate
        self.harmonic_num = harmonic_num
        self.dim = harmonic_num + 1
        self.sine_amp = sine_amp
        self.noise_std = noise_std
        self.voiced_threshold = voiced_threshold

    @torch.no_grad()
    def forward(
        self, f0: torch.Tensor, upp: int, phase: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """f0 ``[B, T]`` (Hz, 0 = unvoiced) → (excitation, uv, noise), each ``[B, T·upp, dim]``.

        ``phase`` ``[B, dim]`` (cycles) replaces the random starting phases: a stream converted block by
        block passes the phase its earlier blocks reached, so the sines run on without a jump.
        """
        f0 = f0.unsqueeze(-1).float()  # [B, T, 1]
        harmonics = torch.arange(1, self.dim + 1, device=f0.device, dtype=f0.dtype)
        rad = (f0 * harmonics / self.sampling_rate) % 1  # [B, T, dim]: phase increment per sample
        initial = noise.rand(f0.shape[0], self.dim, device=f0.device)
        initial[:, 0] = 0  # the fundamental starts at phase 0; overtones at random phases
        if phase is not None:  # added once per sample of the first frame below, hence the division
            initial = phase.to(f0.device, f0.dtype) / upp
        rad[:, 0, :] = rad[:, 0, :] + initial
        frame_phase = torch.cumsum(rad, 1) * upp
        frame_phase = F.interpolate(
            frame_phase.transpose(2, 1), scale_factor=float(upp), mode="linear", align_corners=True
        ).transpose(2, 1)
        rad = F.interpolate(rad.transpose(2, 1), scale_factor=float(upp), mode="nearest").transpose(2, 1)
        frame_phase = frame_phase % 1
        wraps = (frame_phase[:, 1:, :] - frame_phase[:, :-1, :]) < 0
        shift = torch.zeros_like(rad)
        shift[:, 1:, :] = wraps * -1.0
        sines = torch.sin(torch.cumsum(rad + shift, dim=1) * 2 * math.pi) * self.sine_amp
        uv = (f0 > self.voiced_threshold).to(f0.dtype)
        uv = F.interpolate(uv.transpose(2, 1), scale_factor=float(upp), mode="nearest").transpose(2, 1)
        noise_amp = uv * self.noise_std + (1 - uv) * self.sine_amp / 3
        noise_part = noise_amp * noise.randn_like(sines)
        return sines * uv + noise_part, uv, noise_part


class SourceModuleHnNSF(nn.Module):
    """SineGen followed by a learned 1×1 merge (``l_linear``) and tanh → one excitation channel."""

    def __init__(
        self,
        sampling_rate: int,
        harmonic_num: int = 0,
        sine_amp: float = 0.1,
        add_noise_std: float = 0.003,
        voiced_threshold: float = 0.0,
    ) -> None:
        super().__init__()
        self.l_sin_gen = SineGen(sampling_rate, harmonic_num, sine_amp, add_noise_std, voiced_threshold)
        self.l_linear = nn.Linear(harmonic_num + 1, 1)
        self.l_tanh = nn.Tanh()

    def forward(self, f0: torch.Tensor, upp: int, phase: torch.Tensor | None = None) -> torch.Tensor:
        """f0 ``[B, T]`` → excitation ``[B, T·upp, 1]`` in the merge layer's dtype (``phase``: see SineGen)."""
        sines, _, _ = self.l_sin_gen(f0, upp, phase)
        sines = sines.to(dtype=self.l_linear.weight.dtype)
        return self.l_tanh(self.l_linear(sines))
