"""Spectrogram and mel of one sample rate, bound to its sizes (the training targets and the mel loss)."""

from __future__ import annotations

import torch


class FrontEnd:
    """RVC's linear spectrogram and mel for one (sample rate, version), as the training losses use them."""

    def __init__(self, sr: int, version: str) -> None:
        from rvclora.models.config import front_end

        self.fe = front_end(sr, version)

    @property
    def hop(self) -> int:
        return self.fe.hop_length

    @property
    def segment(self) -> int:
        """Latent frames of one training window (what the decoder and discriminator see)."""
        return self.fe.segment_frames

    def spectrogram(self, wav: torch.Tensor) -> torch.Tensor:
        from rvclora.models.mel import spectrogram

        fe = self.fe
        return spectrogram(wav, fe.filter_length, fe.hop_length, fe.win_length)

    def spec_to_mel(self, spec: torch.Tensor) -> torch.Tensor:
        from rvclora.models.mel import spec_to_mel

        fe = self.fe
        return spec_to_mel(spec.float(), fe.filter_length, fe.n_mel_channels, fe.sr, fe.mel_fmin, fe.mel_fmax)

    def mel(self, wav: torch.Tensor) -> torch.Tensor:
        return self.spec_to_mel(self.spectrogram(wav.float()))
