"""One file → the features every metric reads, all on the shared 10 ms frame grid.

F0 comes from the configured estimator at 16 kHz (as in RVC); the spectral envelope, mel-cepstra and STFT
magnitudes are taken at the one analysis rate of every pair (settings.ANALYSIS_RATE). A silent file gets an
all-unvoiced F0 and no cepstra: its metrics are undefined.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from rvclora.audio.io import load_audio, resample
from rvclora.evaluate.mcd import envelope_to_mcep, mcep_alpha, world_envelope
from rvclora.evaluate.settings import F0_RATE, FRAME_PERIOD_S, SILENCE_PEAK
from rvclora.evaluate.spectral import magnitude_spectrogram


class F0Estimator(Protocol):
    def estimate(self, wav_16k: np.ndarray) -> np.ndarray:
        """F0 in Hz per 10 ms frame, 0 = unvoiced."""


@dataclass
class Loaded:
    """A decoded file, mixed down to mono, at its own rate."""

    path: Path
    wav: np.ndarray
    sr: int
    channels: int

    @property
    def silent(self) -> bool:
        return float(np.max(np.abs(self.wav))) < SILENCE_PEAK


@dataclass
class Features:
    wav_16k: np.ndarray
    f0: np.ndarray  # [T] Hz, 0 = unvoiced
    mcep: np.ndarray | None  # [T, order+1] classic mel-cepstra; None for a silent file
    envelope: np.ndarray | None  # [T, fft/2+1] CheapTrick power envelope; None for a silent file
    spec: np.ndarray  # [T, n_fft/2+1] STFT magnitudes at the analysis rate
    sr: int  # the analysis rate of mcep and spec


def load_mono(path: Path) -> Loaded:
    """Decode ``path``; several channels are averaged (the caller reports that they were)."""
    audio, sr = load_audio(path, mono=False)
    return Loaded(Path(path), np.ascontiguousarray(audio.mean(axis=0), dtype=np.float32), sr, audio.shape[0])


def analyse(loaded: Loaded, analysis_sr: int, estimator: F0Estimator, mcep_order: int) -> Features:
    """Features of one file, cut to the frames that lie inside the audio."""
    wav = resample(loaded.wav, loaded.sr, analysis_sr)
    wav_16k = resample(loaded.wav, loaded.sr, F0_RATE)
    n_frames = int(len(wav_16k) / (F0_RATE * FRAME_PERIOD_S)) + 1
    if loaded.silent:
        f0 = np.zeros(n_frames)
    else:
        f0 = np.asarray(estimator.estimate(wav_16k), dtype=np.float64)[:n_frames]
        f0 = np.where(np.isfinite(f0) & (f0 > 0), f0, 0.0)
        n_frames = len(f0)
    envelope = None if loaded.silent else world_envelope(wav, analysis_sr, f0, FRAME_PERIOD_S)
    mcep = None if envelope is None else envelope_to_mcep(envelope, mcep_order, mcep_alpha(analysis_sr))
    spec = magnitude_spectrogram(wav, analysis_sr, n_frames, FRAME_PERIOD_S)
    return Features(wav_16k, f0, mcep, envelope, spec, analysis_sr)
