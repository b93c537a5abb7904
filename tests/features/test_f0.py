"""F0 methods, RVC's coarse mapping, transposition, the CSV override and the pyworld import shim."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rvclora.errors import BadInputError, ConfigError, MissingExtraError
from rvclora.features.f0 import (
    F0_METHODS,
    apply_f0_file,
    coarse_f0,
    default_f0_method,
    load_f0_estimator,
    n_frames,
    shift_f0,
)

SR = 16000


def tone_then_silence(hz: float = 220.0, tone_s: float = 1.0, silence_s: float = 0.5) -> np.ndarray:
    """A harmonic tone (harvest needs harmonics; WORLD rejects a pure sine) followed by digital silence."""
    t = np.arange(int(tone_s * SR)) / SR
    tone = sum(0.3 / k * np.sin(2 * np.pi * hz * k * t) for k in range(1, 6))
    return np.concatenate([tone, np.zeros(int(silence_s * SR))]).astype(np.float32)


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _estimators(reference_dir: Path) -> list:
    out = [
        load_f0_estimator("harvest"),
        load_f0_estimator("dio"),
        load_f0_estimator("rmvpe", rmvpe=reference_dir / "rmvpe_tiny.pt"),
    ]
    out += [
        load_f0_estimator(m)
        for m, mod in (("pm", "parselmouth"), ("crepe", "torchcrepe"), ("fcpe", "torchfcpe"))
        if _available(mod)
    ]
    return out


# --- coarse mapping, transposition, defaults ------------------------------------------------------------


def test_coarse_examples_from_the_spec() -> None:
    hz = np.array([0.0, 20.0, 50.0, 100.0, 220.0, 440.0, 1100.0, 3000.0])
    np.testing.assert_array_equal(coarse_f0(hz), [1, 1, 1, 20, 60, 122, 255, 255])


def test_coarse_by_hand_and_range() -> None:
    # 700 Hz: mel = 1127·ln 2 = 781.17; (781.17 − 77.755)·254/986.653 + 1 = 182.08 → 182
    assert coarse_f0(np.array([700.0]))[0] == 182
    f0 = np.linspace(0, 2000, 4001)
    c = coarse_f0(f0)
    assert c.dtype.kind == "i" and c.min() == 1 and c.max() == 255
    assert np.all(np.diff(c) >= 0)
    assert set(np.unique(c)) == set(range(1, 256))  # every bin is reachable, 0 never
    assert coarse_f0(np.array([np.nan, -5.0]))[0] == 1 and coarse_f0(np.array([-5.0]))[0] == 1


def test_shift_f0() -> None:
    f0 = np.array([0.0, 110.0, 220.0], dtype=np.float32)
    np.testing.assert_allclose(shift_f0(f0, 12), [0.0, 220.0, 440.0], rtol=1e-6)
    np.testing.assert_allclose(shift_f0(f0, -12), [0.0, 55.0, 110.0], rtol=1e-6)
    np.testing.assert_allclose(shift_f0(f0, 7), f0 * 2 ** (7 / 12), rtol=1e-6)


def test_default_method() -> None:
    assert default_f0_method("assets/rmvpe/rmvpe.pt") == "rmvpe"
    assert default_f0_method(None) == default_f0_method("") == "harvest"


# --- the F0 methods ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["harvest", "dio"])
def test_world_methods_find_the_tone_and_the_silence(method: str) -> None:
    wav = tone_then_silence()
    f0 = load_f0_estimator(method).estimate(wav)
    assert f0.dtype == np.float32 and f0.shape == (n_frames(len(wav)),)
    voiced = f0[10:90]  # inside the tone, away from its edges
    assert (voiced > 0).mean() > 0.9
    assert np.median(voiced[voiced > 0]) == pytest.approx(220.0, abs=2.0)
    assert np.all(f0[110:] == 0)


def test_harvest_median_filter_option() -> None:
    wav = tone_then_silence(tone_s=0.4, silence_s=0.2)
    from scipy.signal import medfilt

    raw = load_f0_estimator("harvest").estimate(wav)
    filtered = load_f0_estimator("harvest", median_filter=True).estimate(wav)
    np.testing.assert_allclose(filtered, medfilt(raw.astype(np.float64), 3), rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 159, 160, 161, 555, 16000, 16037])
def test_every_method_returns_n_over_160_plus_one_frames(reference_dir: Path, n: int) -> None:
    rng = np.random.default_rng(n)
    wav = (0.1 * rng.standard_normal(n)).astype(np.float32)
    for est in _estimators(reference_dir):
        f0 = est.estimate(wav)
        assert f0.shape == (n // 160 + 1,), est.name
        assert f0.dtype == np.float32 and np.all(f0 >= 0)


def test_estimate_many_matches_estimate(reference_dir: Path) -> None:
    clips = [tone_then_silence(tone_s=s, silence_s=0.1) for s in (0.3, 0.3, 0.5)]
    rmvpe = load_f0_estimator("rmvpe", rmvpe=reference_dir / "rmvpe_tiny.pt", threshold=0.8)
    for est in (load_f0_estimator("dio"), rmvpe):
        for clip, f0 in zip(clips, est.estimate_many(clips), strict=True):
            np.testing.assert_allclose(f0, est.estimate(clip), atol=1e-3)


@pytest.mark.skipif(not _available("parselmouth"), reason="extra 'pm' (praat-parselmouth) not installed")
def test_pm_finds_the_tone_and_the_silence() -> None:
    wav = tone_then_silence()
    f0 = load_f0_estimator("pm").estimate(wav)
    assert np.median(f0[10:90]) == pytest.approx(220.0, abs=2.0)
    assert np.all(f0[110:] == 0)


@pytest.mark.skipif(not _available("torchcrepe"), reason="extra 'crepe' (torchcrepe) not installed")
def test_crepe_finds_the_tone() -> None:
    wav = tone_then_silence(tone_s=0.5, silence_s=0.3)
    f0 = load_f0_estimator("crepe", model="tiny").estimate(wav)
    assert np.median(f0[10:40]) == pytest.approx(220.0, abs=5.0)
    assert np.all(f0[60:] == 0)


@pytest.mark.skipif(not _available("torchfcpe"), reason="extra 'fcpe' (torchfcpe) not installed")
def test_fcpe_finds_the_tone() -> None:
    wav = tone_then_silence(tone_s=0.5, silence_s=0.3)
    f0 = load_f0_estimator("fcpe").estimate(wav)
    assert np.median(f0[10:40]) == pytest.approx(220.0, abs=5.0)
    assert np.all(f0[60:] == 0)


@pytest.mark.parametrize(
    ("method", "module", "extra"),
    [("pm", "parselmouth", "pm"), ("crepe", "torchcrepe", "crepe"), ("fcpe", "torchfcpe", "fcpe")],
)
def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch, method: str, module: str, extra: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail as if not installed
    with pytest.raises(MissingExtraError) as info:
        load_f0_estimator(method)
    assert f"rvclora[{extra}]" in str(info.value)


def test_bad_method_options_and_audio(reference_dir: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_f0_estimator("yin")
    assert all(m in str(info.value) for m in F0_METHODS)
    with pytest.raises(ConfigError, match="no option thred.*median_filter"):
        load_f0_estimator("harvest", thred=0.1)
    with pytest.raises(ConfigError, match="needs the RMVPE checkpoint"):
        load_f0_estimator("rmvpe")
    with pytest.raises(ConfigError, match="threshold"):
        load_f0_estimator("rmvpe", rmvpe=reference_dir / "rmvpe_tiny.pt", threshold=1.5)
    with pytest.raises(BadInputError, match="not found"):
        load_f0_estimator("rmvpe", rmvpe=reference_dir / "nope.pt")
    est = load_f0_estimator("dio")
    with pytest.raises(BadInputError, match="mono"):
        est.estimate(np.zeros((2, 1000), dtype=np.float32))
    with pytest.raises(BadInputError, match="NaN"):
        est.estimate(np.full(1000, np.nan, dtype=np.float32))
    with pytest.raises(BadInputError, match="mono"):
        est.estimate(np.zeros(0, dtype=np.float32))


# --- CSV override -------------------------------------------------------------------------------------


def test_apply_f0_file_interpolates_from_start_frame(tmp_path: Path) -> None:
    csv = tmp_path / "f0.csv"
    csv.write_text("time,f0\n0.0,100\n0.1,200\n\n0.2,0\n")
    f0 = np.full(50, 7.0, dtype=np.float32)
    out = apply_f0_file(f0, csv, start_frame=5)
    np.testing.assert_allclose(out[5:16], np.linspace(100, 200, 11), rtol=1e-6)
    np.testing.assert_allclose(out[16:26], np.linspace(180, 0, 10), atol=1e-4)
    assert np.all(out[:5] == 7.0) and np.all(out[26:] == 7.0)
    assert np.all(f0 == 7.0)  # input untouched


def test_apply_f0_file_clips_at_the_end_and_later_start(tmp_path: Path) -> None:
    csv = tmp_path / "f0.csv"
    csv.write_text("0.05,300\n0.5,300\n")
    out = apply_f0_file(np.zeros(20, dtype=np.float32), csv, start_frame=2)
    assert np.all(out[:7] == 0) and np.all(out[7:] == 300)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "no 'time_s,f0_Hz' lines"),
        ("0,100\nabc,1\n", "line 2"),
        ("0,100\n0.1,100,3\n", "line 2"),
        ("0,100\n0,120\n", "line 2: times must increase"),
        ("0,-3\n", "line 1: times and F0"),
    ],
)
def test_bad_f0_files(tmp_path: Path, text: str, match: str) -> None:
    csv = tmp_path / "f0.csv"
    csv.write_text(text)
    with pytest.raises(BadInputError, match=match):
        apply_f0_file(np.zeros(10, dtype=np.float32), csv, 0)


# --- pyworld import shim ------------------------------------------------------------------------------


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_pyworld_imports_without_pkg_resources() -> None:
    code = (
        "import sys, importlib.metadata\n"
        "sys.modules['pkg_resources'] = None  # a fresh venv with setuptools >= 81\n"
        "from rvclora.pkg_resources_compat import import_pyworld\n"
        "pw = import_pyworld()\n"
        "assert pw.__version__ == importlib.metadata.version('pyworld'), pw.__version__\n"
        "assert sys.modules['pkg_resources'] is None  # the stand-in is gone again\n"
        "print(pw.harvest.__name__)\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "harvest"


def test_missing_pyworld_is_a_clear_error() -> None:
    code = (
        "import sys\n"
        "sys.modules['pyworld'] = None\n"
        "from rvclora.errors import RvcloraError\n"
        "from rvclora.pkg_resources_compat import import_pyworld\n"
        "try:\n    import_pyworld()\nexcept RvcloraError as e:\n    print('ERR', e)\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ERR") and "pyworld" in result.stdout
