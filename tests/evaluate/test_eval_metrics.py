"""Metric arithmetic of rvclora.evaluate checked against independent hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rvclora.evaluate.dtw import dtw_path, euclidean_cost, time_path
from rvclora.evaluate.f0_metrics import f0_scores
from rvclora.evaluate.mcd import envelope_to_mcep, freqt_matrix, mcep_alpha, mel_cepstral_distortion
from rvclora.evaluate.spectral import spectral_convergence
from rvclora.evaluate.stats import summarize
from rvclora.features.f0 import shift_f0


def test_dtw_finds_the_hand_derived_path() -> None:
    # x = [0, 1, 2], y = [0, 2]: the cheapest path stays on 0→0, takes 1 to either end, ends 2→2.
    cost = np.abs(np.array([0.0, 1.0, 2.0])[:, None] - np.array([0.0, 2.0])[None, :])
    i, j = dtw_path(cost)
    assert i[0] == 0 and j[0] == 0 and i[-1] == 2 and j[-1] == 1
    assert cost[i, j].sum() == pytest.approx(1.0)  # 0 + 1 + 0: the minimum by inspection
    assert np.all(np.diff(i) >= 0) and np.all(np.diff(j) >= 0) and np.all(np.diff(i) + np.diff(j) >= 1)


def test_dtw_repeats_frames_of_a_stretched_copy() -> None:
    x = np.array([[0.0], [5.0], [9.0]])
    y = np.repeat(x, 2, axis=0)  # every frame twice
    i, j = dtw_path(euclidean_cost(x, y))
    assert list(i) == [0, 0, 1, 1, 2, 2] and list(j) == [0, 1, 2, 3, 4, 5]
    assert list(time_path(3, 5)[0]) == [0, 1, 2]


def test_mcd_matches_a_hand_computation_on_tiny_cepstra() -> None:
    c_ref = np.array([[9.0, 1.0, 2.0], [7.0, 0.0, 1.0], [5.0, 3.0, 3.0]])
    c_conv = np.array([[0.0, 1.0, 1.0], [0.0, 2.0, 3.0]])
    path = (np.array([0, 1, 2]), np.array([0, 0, 1]))
    # Frame by frame, c0 left out: squared differences 0+1, 1+0, 1+0.
    k = 10.0 / math.log(10.0)
    expected = (k * math.sqrt(2 * 1) + k * math.sqrt(2 * 1) + k * math.sqrt(2 * 1)) / 3
    assert mel_cepstral_distortion(c_ref, c_conv, path) == pytest.approx(expected)
    assert mel_cepstral_distortion(c_ref, c_ref, (np.arange(3), np.arange(3))) == 0.0


def test_mcep_alpha_reproduces_the_published_fits() -> None:
    # Values of the mel-scale fit as published with SPTK-based tools (pysptk.util.mcepalpha).
    assert mcep_alpha(16000) == pytest.approx(0.410)
    assert mcep_alpha(22050) == pytest.approx(0.455)
    assert mcep_alpha(44100) == pytest.approx(0.544)
    assert mcep_alpha(48000) == pytest.approx(0.554)


def test_freqt_without_warping_is_truncation() -> None:
    c = np.arange(1.0, 11.0)
    assert np.allclose(freqt_matrix(10, 4, 0.0) @ c, c[:5])


def test_mel_cepstrum_reproduces_the_log_spectrum_on_the_warped_axis() -> None:
    # ln|H(e^jw)| = Σ c(m) cos(mw) = Σ c̃(m) cos(m·β(w)), β the all-pass phase; check on a smooth envelope.
    alpha, n_fft = 0.42, 512
    c = np.zeros(n_fft // 2 + 1)
    c[:4] = [0.5, 0.8, -0.3, 0.1]
    w = np.linspace(0, np.pi, n_fft // 2 + 1)
    log_amp = (c[None, :] * np.cos(np.outer(w, np.arange(len(c))))).sum(1)
    mc = envelope_to_mcep(np.exp(2 * log_amp)[None, :], 60, alpha)[0]
    beta = w + 2 * np.arctan(alpha * np.sin(w) / (1 - alpha * np.cos(w)))
    rebuilt = (mc[None, :] * np.cos(np.outer(beta, np.arange(61)))).sum(1)
    assert np.max(np.abs(rebuilt - log_amp)) < 1e-3


def test_f0_scores_match_hand_computation() -> None:
    ref = np.array([100.0, 200.0, 0.0, 400.0, 0.0])
    conv = np.array([200.0, 200.0, 300.0, 0.0, 0.0])
    s = f0_scores(ref, conv, time_path(5, 5))
    # voiced in both: frames 0 (+1200 cents) and 1 (0 cents); decisions differ on frames 2 and 3.
    assert s.voiced_both == 2
    assert s.rmse_cents == pytest.approx(math.sqrt((1200**2 + 0) / 2))
    assert s.vuv_error == pytest.approx(2 / 5)
    assert s.corr is None  # conv is 200 Hz on both common frames: a flat contour has no correlation


def test_f0_correlation_flat_and_defined_cases() -> None:
    path = time_path(4, 4)
    flat = f0_scores(np.array([100.0, 200.0, 300.0, 150.0]), np.full(4, 220.0), path)
    assert flat.corr is None and flat.rmse_cents is not None
    ref = np.array([100.0, 200.0, 400.0, 200.0])
    conv = np.array([110.0, 200.0, 380.0, 250.0])
    a, b = np.log2(ref), np.log2(conv)
    expected = np.sum((a - a.mean()) * (b - b.mean())) / math.sqrt(
        np.sum((a - a.mean()) ** 2) * np.sum((b - b.mean()) ** 2)
    )
    assert f0_scores(ref, conv, path).corr == pytest.approx(expected)


def test_pitch_shift_of_the_reference_cancels_a_transposed_conversion() -> None:
    ref = np.array([100.0, 150.0, 0.0, 220.0])
    conv = ref * 2 ** (3 / 12)
    path = time_path(4, 4)
    assert f0_scores(ref, conv, path).rmse_cents == pytest.approx(300.0)
    assert f0_scores(shift_f0(ref, 3), conv, path).rmse_cents == pytest.approx(0.0, abs=1e-9)
    assert shift_f0(ref, 3)[2] == 0.0


def test_no_common_voiced_frame_is_undefined_not_nan() -> None:
    s = f0_scores(np.zeros(3), np.array([0.0, 100.0, 0.0]), time_path(3, 3))
    assert s.rmse_cents is None and s.corr is None and s.vuv_error == pytest.approx(1 / 3)


def test_spectral_convergence_hand_case_and_silent_reference() -> None:
    s_ref = np.array([[3.0, 4.0], [0.0, 0.0]])
    s_conv = np.array([[3.0, 0.0], [0.0, 1.0]])
    path = (np.array([0, 1]), np.array([0, 1]))
    assert spectral_convergence(s_ref, s_conv, path) == pytest.approx(math.sqrt(16 + 1) / 5)
    assert spectral_convergence(np.zeros((2, 2)), s_conv, path) is None


def test_summary_ci_matches_scipy() -> None:
    from scipy import stats

    values = [4.0, 5.5, None, 6.0, 3.2]
    s = summarize(values)
    defined = np.array([4.0, 5.5, 6.0, 3.2])
    low, high = stats.t.interval(0.95, len(defined) - 1, loc=defined.mean(), scale=stats.sem(defined))
    assert s["n"] == 4 and s["undefined"] == 1
    assert s["mean"] == pytest.approx(defined.mean()) and s["median"] == pytest.approx(np.median(defined))
    assert s["ci95"] == pytest.approx([low, high])
    assert summarize([None])["mean"] is None and summarize([1.0])["ci95"] is None


def test_mcd_counts_c0_when_asked_as_pymcd_does() -> None:
    c_ref = np.array([[9.0, 1.0], [7.0, 0.0]])
    c_conv = np.array([[6.0, 1.0], [7.0, 2.0]])
    path = (np.arange(2), np.arange(2))
    k = 10.0 / math.log(10.0)
    assert mel_cepstral_distortion(c_ref, c_conv, path, first=0) == pytest.approx(
        (k * math.sqrt(2 * 9) + k * math.sqrt(2 * 4)) / 2
    )


def test_rating_bands_follow_docs_metrics() -> None:
    from rvclora.evaluate.bands import rating

    assert [rating("mcd_db", v) for v in (3.9, 4.0, 6.0, 7.9, 8.5)] == [
        "excellent",
        "good",
        "good",
        "acceptable",
        "poor",
    ]
    assert [rating("f0_corr", v) for v in (0.95, 0.8, 0.7, 0.5)] == ["excellent", "good", "good", "poor"]
    assert [rating("spectral_convergence", v) for v in (0.1, 0.3, 0.9)] == ["excellent", "good", "poor"]
    assert rating("mcd_db", None) is None and rating("vuv_error", 0.1) is None
    assert rating("mcd_db", 3.0, mcd_style="pymcd") is None  # the bands are for classic MCD only


def test_cheaptrick_is_told_the_f0_floor_so_low_voices_are_analysed_at_their_pitch() -> None:
    """At 44.1 kHz CheapTrick's default floor (71 Hz) leaves frames voiced below 64.7 Hz analysed at 500 Hz."""
    from rvclora.evaluate.mcd import world_mcep
    from rvclora.features.f0 import F0_MIN
    from rvclora.pkg_resources_compat import import_pyworld

    pw = import_pyworld()
    sr = 44100
    t = np.arange(sr // 2) / sr
    x = sum(np.sin(2 * np.pi * 55.0 * k * t) / k for k in range(1, 30)) * 0.2
    f0 = np.full(51, 55.0)
    times = np.arange(51) * 0.01
    at_pitch = envelope_to_mcep(pw.cheaptrick(x, f0, times, sr, f0_floor=F0_MIN), 24, mcep_alpha(sr))
    default_floor = envelope_to_mcep(pw.cheaptrick(x, f0, times, sr), 24, mcep_alpha(sr))
    got = world_mcep(x, sr, f0, 0.01, 24)
    assert np.allclose(got, at_pitch)
    assert mel_cepstral_distortion(got, default_floor, (np.arange(51), np.arange(51))) > 0.5
