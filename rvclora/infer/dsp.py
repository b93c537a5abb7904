"""Signal steps around the model (rvc-interop.md §8 steps 1, 4, 10, 11, 12).

They are plain numpy/scipy functions so the conversion pipeline reads as the list of steps it is.
"""

from __future__ import annotations

import numpy as np

from rvclora.errors import BadInputError

SR_16K = 16000
# Peak below which an input counts as silent (about -100 dBFS): converting it would only amplify noise.
SILENCE_PEAK = 1e-5


def peak_guard(audio: np.ndarray, name: str = "input") -> np.ndarray:
    """Step 1: scale down inputs whose peak exceeds 0.95 (never up); refuse empty or silent audio."""
    if audio.size == 0:
        raise BadInputError(f"{name} has no samples", "give a file with sound in it")
    peak = float(np.abs(audio).max())
    if peak < SILENCE_PEAK:
        raise BadInputError(f"{name} is silent (peak {peak:.1e})", "check the recording or the input file")
    factor = peak / 0.95
    return (audio / factor).astype(np.float32) if factor > 1 else audio.astype(np.float32, copy=False)


def highpass_48hz(audio: np.ndarray) -> np.ndarray:
    """Step 4: zero-phase 5th-order Butterworth high-pass at 48 Hz (removes rumble, keeps timing)."""
    from scipy import signal

    b, a = signal.butter(N=5, Wn=48, btype="high", fs=SR_16K)
    return signal.filtfilt(b, a, audio).astype(np.float32)


def _rms(audio: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """librosa.feature.rms(center=True, zero padding) via a cumulative sum: same numbers, no JIT warm-up."""
    padded = np.pad(audio.astype(np.float64), frame // 2)
    n = 1 + (padded.shape[0] - frame) // hop
    csum = np.concatenate([[0.0], np.cumsum(padded**2)])
    starts = np.arange(n) * hop
    return np.sqrt(np.maximum(csum[starts + frame] - csum[starts], 0.0) / frame)


def _envelope(audio: np.ndarray, sr: int, length: int) -> np.ndarray:
    """RMS over sr-sample frames every sr/2 samples, linearly interpolated (half-pixel) to ``length``."""
    import torch
    import torch.nn.functional as F

    rms = torch.from_numpy(_rms(audio, sr // 2 * 2, sr // 2)).float()[None, None]
    return F.interpolate(rms, size=length, mode="linear").reshape(-1).numpy()


def mix_rms(source_16k: np.ndarray, converted: np.ndarray, sr: int, rate: float) -> np.ndarray:
    """Step 10: blend the output loudness envelope towards the input's (rate 1 keeps the output's)."""
    if rate >= 1.0 or converted.size == 0:
        return converted
    env_in = _envelope(source_16k, SR_16K, converted.shape[0])
    env_out = np.maximum(_envelope(converted, sr, converted.shape[0]), 1e-6)
    gain = np.power(env_in, 1.0 - rate) * np.power(env_out, rate - 1.0)
    return (converted * gain).astype(np.float32)


def resample_output(audio: np.ndarray, sr: int, resample_sr: int) -> tuple[np.ndarray, int]:
    """Step 11: optional resampling; only rates >= 16 kHz that differ from the model's are applied."""
    if resample_sr >= SR_16K and resample_sr != sr:
        from rvclora.audio.io import resample

        return resample(audio, sr, resample_sr), resample_sr
    return audio, sr


def limit_peak(audio: np.ndarray) -> np.ndarray:
    """Step 12 without the int16 cast: scale down to a 0.99 peak only if the output would clip."""
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return (audio / (peak / 0.99)).astype(np.float32) if peak / 0.99 > 1 else audio.astype(np.float32, copy=False)
