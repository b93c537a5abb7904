"""RVC's training front end: linear magnitude spectrogram and log-mel (``mel_processing.py``).

Reflect-pad (n_fft − hop)/2 on both sides, STFT without centring (periodic Hann window), magnitude
sqrt(re² + im² + eps); mel = librosa's Slaney filterbank (fmin 0, fmax sr/2 by default) × magnitude;
log(clamp(mel, clip)). The epsilons changed between upstream revisions: older ones use eps 1e-6 and
clip 1e-5; the revision of the reference fixtures uses :data:`MAG_EPS` and :data:`MEL_CLIP`.
Filterbanks and windows are cached per (sizes, dtype, device).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

#: epsilon under the square root of the magnitude (older upstream revisions: 1e-6)
MAG_EPS = 2e-7
#: floor of the mel energies before the log (older upstream revisions: 1e-5)
MEL_CLIP = 2e-6

_windows: dict[tuple[int, torch.dtype, torch.device], torch.Tensor] = {}
_filterbanks: dict[tuple[int, int, int, float, float | None, torch.dtype, torch.device], torch.Tensor] = {}


def _hann(win: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    key = (win, dtype, device)
    if key not in _windows:
        _windows[key] = torch.hann_window(win, dtype=dtype, device=device)
    return _windows[key]


def mel_filterbank(
    sr: int,
    n_fft: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """librosa's default (Slaney-scale, Slaney-normalised) mel filterbank ``[n_mels, n_fft/2+1]``, cached."""
    device = torch.device(device)
    key = (sr, n_fft, n_mels, float(fmin), fmax, dtype, device)
    if key not in _filterbanks:
        import librosa

        basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        _filterbanks[key] = torch.from_numpy(basis).to(dtype=dtype, device=device)
    return _filterbanks[key]


def spectrogram(wav: torch.Tensor, n_fft: int, hop: int, win: int, eps: float = MAG_EPS) -> torch.Tensor:
    """Linear magnitude spectrogram ``[B, n_fft/2+1, frames]`` of ``wav`` ``[B, samples]`` (or ``[samples]``)."""
    squeeze = wav.dim() == 1
    if squeeze:
        wav = wav.unsqueeze(0)
    pad = (n_fft - hop) // 2
    wav = F.pad(wav.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    stft = torch.stft(
        wav,
        n_fft,
        hop_length=hop,
        win_length=win,
        window=_hann(win, wav.dtype, wav.device),
        center=False,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    spec = torch.sqrt(stft.real.pow(2) + stft.imag.pow(2) + eps)
    return spec[0] if squeeze else spec


def spec_to_mel(
    spec: torch.Tensor,
    n_fft: int,
    n_mels: int,
    sr: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    clip: float = MEL_CLIP,
) -> torch.Tensor:
    """Log-mel ``[B, n_mels, frames]`` from a linear magnitude spectrogram."""
    basis = mel_filterbank(sr, n_fft, n_mels, fmin, fmax, spec.dtype, spec.device)
    return torch.log(torch.clamp(torch.matmul(basis, spec), min=clip))


def mel_spectrogram(
    wav: torch.Tensor,
    n_fft: int,
    n_mels: int,
    sr: int,
    hop: int,
    win: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    eps: float = MAG_EPS,
    clip: float = MEL_CLIP,
) -> torch.Tensor:
    """Log-mel of a waveform (what training compares generated and real audio with)."""
    return spec_to_mel(spectrogram(wav, n_fft, hop, win, eps), n_fft, n_mels, sr, fmin, fmax, clip)
