"""One fixed input, rendered by two models, and how far apart the two waveforms are.

The built-in probe is synthetic but speech-like: "phones" (one random content vector per 40–120 ms segment,
cross-faded, at the spread of real HuBERT features) and a gliding, vibrato-carrying F0 with unvoiced gaps,
both from a fixed seed. ``--probe audio.wav`` replaces it with the user's own audio through the user's
HuBERT and F0 estimator. Rendering runs in zero-noise mode (the prior sample, SineGen's phases and noise are
zeros), so the comparison measures the weights alone and is repeatable to the bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rvclora.models.noise import without_noise

if TYPE_CHECKING:
    from rvclora.models.synthesizer import Synthesizer

FRAME_RATE = 100  # latent frames per second in every RVC configuration
FEATURE_STD = 0.4  # rough per-dimension spread of HuBERT/ContentVec features


@dataclass
class Probe:
    """Model inputs at 100 frames per second."""

    name: str
    phone: np.ndarray  # [T, 256|768] float32
    f0: np.ndarray | None  # [T] Hz, 0 = unvoiced; None for a no-pitch model

    @property
    def seconds(self) -> float:
        return self.phone.shape[0] / FRAME_RATE


def _segments(frames: int, rng: np.random.Generator) -> list[int]:
    bounds, t = [0], 0
    while t < frames:
        t += int(rng.integers(4, 13))
        bounds.append(min(t, frames))
    return bounds


def synthetic_probe(content_dim: int, f0: bool, seconds: float, seed: int = 0) -> Probe:
    """The built-in probe: deterministic phone-like content and a sung-speech F0 contour."""
    frames = max(int(round(seconds * FRAME_RATE)), 20)
    rng = np.random.default_rng(seed)
    bounds = _segments(frames, rng)
    anchors = rng.standard_normal((len(bounds), content_dim)) * FEATURE_STD
    phone = np.empty((frames, content_dim))
    for i, (start, stop) in enumerate(pairwise(bounds)):
        ramp = np.linspace(0.0, 1.0, stop - start, endpoint=False)[:, None] ** 2  # glide into the next phone
        phone[start:stop] = anchors[i] * (1 - ramp) + anchors[i + 1] * ramp
    pitch = None
    if f0:
        t = np.arange(frames) / FRAME_RATE
        pitch = 140.0 * 2 ** (0.5 * np.sin(2 * np.pi * 0.4 * t)) * (1 + 0.02 * np.sin(2 * np.pi * 5.5 * t))
        gaps = np.zeros(frames, dtype=bool)
        for start, stop in pairwise(bounds):
            gaps[start:stop] = rng.random() < 0.2  # about one segment in five is unvoiced
        pitch = np.where(gaps, 0.0, pitch).astype(np.float32)
    return Probe("synthetic", phone.astype(np.float32), pitch)


def audio_probe(
    path: Path,
    content_dim: int,
    version: str,
    f0: bool,
    hubert: Path,
    f0_method: str,
    rmvpe: Path | None,
    device: str = "cpu",
) -> Probe:
    """Inputs from the user's audio: HuBERT content (50 Hz, repeated to 100 Hz) and estimated F0."""
    from rvclora.audio.io import load_audio
    from rvclora.errors import BadInputError
    from rvclora.features.hubert import load_content_encoder

    wav, _ = load_audio(path, sr=16000)
    feats = np.asarray(load_content_encoder(hubert, device=device).extract(wav, version), dtype=np.float32)
    if feats.shape[-1] != content_dim:
        raise BadInputError(
            f"HuBERT {hubert.name} gives {feats.shape[-1]}-wide features, the model takes {content_dim}",
            "give the content encoder that matches the model version",
        )
    phone = np.repeat(feats, 2, axis=0)
    pitch = None
    if f0:
        from rvclora.features.f0 import load_f0_estimator

        pitch = np.asarray(load_f0_estimator(f0_method, rmvpe=rmvpe, device=device).estimate(wav), dtype=np.float32)
        frames = min(len(phone), len(pitch))
        phone, pitch = phone[:frames], pitch[:frames]
    return Probe(str(path), phone, pitch)


@torch.no_grad()
def render(model: Synthesizer, probe: Probe, sid: int = 0) -> np.ndarray:
    """The model's waveform for the probe (speaker ``sid``), float64."""
    from rvclora.features.f0 import coarse_f0

    phone = torch.from_numpy(probe.phone)[None]
    lengths = torch.tensor([phone.shape[1]])
    kwargs: dict[str, Any] = {}
    if probe.f0 is not None:
        kwargs = {
            "pitch": torch.from_numpy(np.asarray(coarse_f0(probe.f0), dtype=np.int64))[None],
            "nsff0": torch.from_numpy(probe.f0)[None],
        }
    with without_noise():
        audio = model.run_infer(phone, lengths, torch.tensor([sid]), **kwargs)[0]
    return audio[0, 0].to(torch.float64).numpy()


def agreement(reference: np.ndarray, test: np.ndarray, sr: int, f0: np.ndarray | None) -> dict[str, float | None]:
    """SNR (dB, the reference as signal), MCD (dB, WORLD mel-cepstra c1..c24, frame by frame) and max |diff|.

    MCD is analysed at eval's fixed rate (16 kHz), so the figure compares with ``rvclora eval``'s at any model rate.
    """
    from rvclora.audio.io import resample
    from rvclora.evaluate.dtw import time_path
    from rvclora.evaluate.mcd import mel_cepstral_distortion, world_mcep
    from rvclora.evaluate.settings import ANALYSIS_RATE

    diff = reference - test
    noise = float(np.sum(diff * diff))
    snr = math.inf if noise == 0 else 10 * math.log10(max(float(np.sum(reference * reference)), 1e-300) / noise)
    frames = len(reference) * FRAME_RATE // sr
    pitch = np.zeros(frames) if f0 is None else np.asarray(f0[:frames], dtype=np.float64)
    mcd = None
    if frames > 0 and float(np.max(np.abs(reference))) > 1e-4:
        c_ref = world_mcep(resample(reference, sr, ANALYSIS_RATE), ANALYSIS_RATE, pitch, 1.0 / FRAME_RATE, 24)
        c_test = world_mcep(resample(test, sr, ANALYSIS_RATE), ANALYSIS_RATE, pitch, 1.0 / FRAME_RATE, 24)
        mcd = mel_cepstral_distortion(c_ref, c_test, time_path(len(c_ref), len(c_test)))
    return {"snr_db": snr, "mcd_db": mcd, "max_abs": float(np.max(np.abs(diff))) if len(diff) else 0.0}
