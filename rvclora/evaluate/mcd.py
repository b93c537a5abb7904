"""Mel-cepstral distortion (MCD) in plain numpy (no pysptk), in two conventions.

``classic`` (default): the usual SPTK/WORLD convention. WORLD's CheapTrick gives the power spectral envelope;
its real cepstrum is warped onto the mel scale with SPTK's ``freqt`` recursion (all-pass constant ``alpha``
fitted to the mel scale for the sample rate); MCD is ``10/ln10 · sqrt(2 · Σ_{d=1..D} (c_d − c'_d)²)`` per
aligned frame, averaged over the path. c0 (energy) is left out so loudness does not count.

``pymcd``: the parameters the pymcd package (used by RVCBench) documents: order 13, alpha 0.65 whatever the
rate, c0 included, the spectrum floored at 1e-8 before the log. Its numbers are far lower than classic ones.

Both analyse audio at one fixed rate (``ANALYSIS_RATE`` in settings) so that files of any rate compare.
Details and the formula's derivation: docs/metrics.md.
"""

from __future__ import annotations

import functools

import numpy as np

MCD_SCALE = 10.0 / np.log(10.0)
PYMCD_ORDER = 13
PYMCD_ALPHA = 0.65
PYMCD_FLOOR = 1e-8  # power spectrum floor before the log (pymcd's eps)


@functools.lru_cache(maxsize=32)
def mcep_alpha(sr: int) -> float:
    """The all-pass constant whose warping best fits the mel scale at ``sr`` (grid 0..1, step 0.001).

    Least squares between the normalised warped frequency and the normalised mel scale
    1000/ln2 · ln(1 + f/1000) on 1000 points up to Nyquist; gives 0.410 at 16 kHz, 0.455 at 22.05 kHz,
    0.544 at 44.1 kHz and 0.554 at 48 kHz.
    """
    n = 1000
    freqs = (sr / 2.0) / n * np.arange(1, n + 1)
    mel = np.log1p(freqs / 1000.0)
    mel /= mel[-1]
    omega = np.pi / n * np.arange(1, n + 1)
    alphas = np.round(np.arange(0, 1001) * 0.001, 3)[:, None]
    warped = np.arctan2((1 - alphas**2) * np.sin(omega), (1 + alphas**2) * np.cos(omega) - 2 * alphas)
    warped /= warped[:, -1:]
    return float(alphas[np.argmin(((warped - mel) ** 2).mean(axis=1)), 0])


@functools.lru_cache(maxsize=8)
def freqt_matrix(n_in: int, order: int, alpha: float) -> np.ndarray:
    """The linear map of SPTK's ``freqt`` (cepstrum c[0..n_in-1] → warped c̃[0..order]) as a matrix.

    ``freqt`` is linear in its input, so running its recursion once on the identity gives a matrix that
    converts any number of frames with one product.
    """
    b = 1.0 - alpha * alpha
    eye = np.eye(n_in)
    g = np.zeros((order + 1, n_in))
    for i in range(n_in - 1, -1, -1):
        d = g.copy()
        g[0] = eye[i] + alpha * d[0]
        if order >= 1:
            g[1] = b * d[0] + alpha * d[1]
        for k in range(2, order + 1):
            g[k] = d[k - 1] + alpha * (d[k] - g[k - 1])
    return g


def envelope_to_mcep(power_envelope: np.ndarray, order: int, alpha: float, floor: float = 1e-300) -> np.ndarray:
    """Power spectral envelope [T, fft/2+1] → mel-cepstrum [T, order+1] (SPTK amplitude convention).

    The real cepstrum of ln|H|² has c0 and the Nyquist term counted twice relative to SPTK's one-sided
    ``ln H(z) = Σ c(m) z^-m``, so both are halved before warping. ``floor`` bounds the power from below.
    """
    log_power = np.log(np.maximum(power_envelope, floor))
    cep = np.fft.irfft(log_power, axis=1)[:, : power_envelope.shape[1]]
    cep[:, 0] *= 0.5
    cep[:, -1] *= 0.5
    return cep @ freqt_matrix(cep.shape[1], order, alpha).T


def world_envelope(wav: np.ndarray, sr: int, f0: np.ndarray, frame_period_s: float) -> np.ndarray:
    """WORLD CheapTrick power envelope [T, fft/2+1] on the F0 frame grid (frame k at k · frame_period_s).

    CheapTrick is told the F0 floor the estimators search from (50 Hz): with its own default (71 Hz) a frame
    voiced below that would be analysed as if it were unvoiced (at 500 Hz).
    """
    from rvclora.features.f0 import F0_MIN
    from rvclora.pkg_resources_compat import import_pyworld

    pw = import_pyworld()
    x = np.ascontiguousarray(wav, dtype=np.float64)
    times = np.arange(len(f0), dtype=np.float64) * frame_period_s
    return pw.cheaptrick(x, np.ascontiguousarray(f0, dtype=np.float64), times, sr, f0_floor=F0_MIN)


def world_mcep(wav: np.ndarray, sr: int, f0: np.ndarray, frame_period_s: float, order: int) -> np.ndarray:
    """Classic mel-cepstra [T, order+1] of ``wav`` on the F0 frame grid, via WORLD CheapTrick."""
    return envelope_to_mcep(world_envelope(wav, sr, f0, frame_period_s), order, mcep_alpha(sr))


def pymcd_mcep(power_envelope: np.ndarray) -> np.ndarray:
    """Mel-cepstra with pymcd's documented parameters: order 13, alpha 0.65, power floored at 1e-8."""
    return envelope_to_mcep(power_envelope, PYMCD_ORDER, PYMCD_ALPHA, floor=PYMCD_FLOOR)


def frame_distortions(
    c_ref: np.ndarray, c_conv: np.ndarray, path: tuple[np.ndarray, np.ndarray], first: int = 1
) -> np.ndarray:
    """Per-frame MCD in dB along ``path`` over coefficients ``first``.. (1: c0 excluded, 0: included)."""
    diff = c_ref[path[0], first:] - c_conv[path[1], first:]
    return MCD_SCALE * np.sqrt(2.0 * (diff * diff).sum(axis=1))


def mel_cepstral_distortion(
    c_ref: np.ndarray, c_conv: np.ndarray, path: tuple[np.ndarray, np.ndarray], first: int = 1
) -> float:
    """MCD in dB: the mean of the per-frame distortions along ``path`` (``first=0`` counts c0, as pymcd)."""
    return float(frame_distortions(c_ref, c_conv, path, first).mean())
