"""``rvclora eval`` end to end on short synthetic signals: known answers, pairing, bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers_assets import harmonic_voice
from helpers_assets import run_cli as run

from rvclora.evaluate.compare import METRIC_KEYS

SR = 16000


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code, out, err = run(capsys, *args, "--json", "--no-speaker")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture()
def wavs(tmp_path: Path) -> Path:
    sf.write(tmp_path / "ref.wav", harmonic_voice(200.0), SR)
    sf.write(tmp_path / "up3.wav", harmonic_voice(200.0 * 2 ** (3 / 12), vibrato=0.0), SR)
    sf.write(tmp_path / "flat.wav", harmonic_voice(200.0, vibrato=0.0), SR)
    return tmp_path


def test_identical_files_score_perfectly(capsys: pytest.CaptureFixture[str], wavs: Path) -> None:
    data = run_json(capsys, "eval", wavs / "ref.wav", wavs / "ref.wav")
    assert set(METRIC_KEYS) <= data.keys()
    assert data["mcd_db"] == pytest.approx(0.0, abs=1e-9)
    assert data["spectral_convergence"] == pytest.approx(0.0, abs=1e-9)
    assert data["f0_rmse_cents"] == pytest.approx(0.0, abs=1e-9)
    assert data["f0_corr"] == pytest.approx(1.0)
    assert data["vuv_error"] == 0.0
    assert data["speaker_similarity"] is None


@pytest.mark.slow
def test_known_pitch_shift_and_its_correction(capsys: pytest.CaptureFixture[str], wavs: Path) -> None:
    shifted = run_json(capsys, "eval", wavs / "flat.wav", wavs / "up3.wav")
    assert shifted["f0_rmse_cents"] == pytest.approx(300.0, abs=10.0)
    assert shifted["vuv_error"] < 0.05
    corrected = run_json(capsys, "eval", wavs / "flat.wav", wavs / "up3.wav", "--pitch", "3")
    assert corrected["f0_rmse_cents"] < 10.0


def test_different_rates_and_stereo_are_brought_together(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from rvclora.audio.io import resample

    hi = harmonic_voice(220.0, sr=48000)
    sf.write(tmp_path / "ref.wav", resample(hi, 48000, SR), SR)
    sf.write(tmp_path / "conv.flac", np.stack([hi, hi], axis=1), 48000)
    data = run_json(capsys, "eval", tmp_path / "ref.wav", tmp_path / "conv.flac", "--f0-method", "dio")
    assert data["sample_rate"] == SR
    notes = " ".join(data["notes"])
    assert "resampled to 16000 Hz" in notes and "2 channels" in notes
    assert data["mcd_db"] < 0.5 and data["f0_rmse_cents"] < 5.0


def test_silence_is_undefined_not_nan(capsys: pytest.CaptureFixture[str], wavs: Path) -> None:
    sf.write(wavs / "silence.wav", np.zeros(SR // 2, np.float32), SR)
    code, out, err = run(capsys, "eval", wavs / "ref.wav", wavs / "silence.wav", "--json", "--f0-method", "dio")
    assert code == 0, err
    assert "NaN" not in out
    data = json.loads(out)
    for key in ("mcd_db", "spectral_convergence", "f0_rmse_cents", "f0_corr", "speaker_similarity"):
        assert data[key] is None, key
    assert data["vuv_error"] > 0.9  # the reference is voiced throughout, the silence never
    code, out, _ = run(capsys, "eval", wavs / "silence.wav", wavs / "silence.wav", "--f0-method", "dio", "--no-speaker")
    assert code == 0 and "n/a" in out


def test_folder_mode_pairs_by_stem_and_aggregates(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from scipy import stats

    refs, convs = tmp_path / "refs", tmp_path / "convs"
    refs.mkdir(), convs.mkdir()
    for i, name in enumerate(("a", "b", "c")):
        sf.write(refs / f"{name}.wav", harmonic_voice(180.0 + 20 * i, seed=i), SR)
        sf.write(convs / f"{name}.flac", harmonic_voice((180.0 + 20 * i) * 2 ** (i / 12), seed=10 + i), SR)
    sf.write(refs / "only_ref.wav", harmonic_voice(200.0), SR)
    sf.write(convs / "only_conv.wav", harmonic_voice(200.0), SR)
    (convs / "notes.txt").write_text("not audio")
    data = run_json(capsys, "eval", refs, convs, "--f0-method", "dio", "--align", "time")
    assert [p["name"] for p in data["pairs"]] == ["a", "b", "c"]
    assert data["unpaired"] == {"ref_only": ["only_ref"], "converted_only": ["only_conv"]}
    cents = np.array([p["f0_rmse_cents"] for p in data["pairs"]])
    assert cents == pytest.approx([0, 100, 200], abs=10)  # transposed by 0, 1 and 2 semitones
    agg = data["aggregate"]["f0_rmse_cents"]
    low, high = stats.t.interval(0.95, 2, loc=cents.mean(), scale=stats.sem(cents))
    assert (
        agg["n"] == 3
        and agg["mean"] == pytest.approx(cents.mean())
        and agg["median"] == pytest.approx(np.median(cents))
    )
    assert agg["ci95"] == pytest.approx([low, high])
    assert data["aggregate"]["speaker_similarity"]["n"] == 0
    code, out, err = run(capsys, "eval", refs, convs, "--f0-method", "dio", "--no-speaker")
    assert code == 0 and "only_ref" in err and "aggregate" in out


@pytest.mark.parametrize(
    "case, needle",
    [
        ("missing", "not found"),
        ("mixed", "both be files or both be folders"),
        ("nopairs", "pair up"),
        ("dupe", "share the name"),
        ("method", "unknown F0 method"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], wavs: Path, case: str, needle: str) -> None:
    (wavs / "d1").mkdir(), (wavs / "d2").mkdir()
    sf.write(wavs / "d1" / "x.wav", harmonic_voice(200.0), SR)
    sf.write(wavs / "d2" / "y.wav", harmonic_voice(200.0), SR)
    args = {
        "missing": [wavs / "ref.wav", wavs / "nope.wav"],
        "mixed": [wavs / "ref.wav", wavs / "d1"],
        "nopairs": [wavs / "d1", wavs / "d2"],
        "dupe": [wavs / "d1", wavs / "d2"],
        "method": [wavs / "ref.wav", wavs / "ref.wav", "--f0-method", "nonsense"],
    }[case]
    if case == "dupe":
        sf.write(wavs / "d2" / "x.wav", harmonic_voice(200.0), SR)
        sf.write(wavs / "d2" / "x.flac", harmonic_voice(200.0), SR)
    code, out, err = run(capsys, "eval", *args, "--no-speaker")
    assert code == 2
    assert needle in " ".join(err.split()) and "Traceback" not in err and err.count("error:") == 1


def test_missing_extras_name_the_extra(
    capsys: pytest.CaptureFixture[str], wavs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "resemblyzer", None)  # import fails as if not installed
    code, _, err = run(capsys, "eval", wavs / "ref.wav", wavs / "ref.wav", "--speaker")
    assert code == 2 and "resemblyzer" in err
    from rvclora.errors import MissingExtraError
    from rvclora.evaluate.speaker import load_speaker_encoder

    with pytest.raises(MissingExtraError, match="resemblyzer") as info:
        load_speaker_encoder(True)
    assert "rvclora[speaker]" in str(info.value.hint)
    code, out, _ = run(capsys, "eval", wavs / "ref.wav", wavs / "ref.wav", "--json", "--f0-method", "dio")
    assert code == 0 and json.loads(out)["speaker_similarity"] is None
    assert any("rvclora[speaker]" in n for n in json.loads(out)["notes"])
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, _, err = run(capsys, "eval", wavs / "ref.wav", wavs / "ref.wav", "--plot", wavs / "r.png")
    assert code == 2 and "matplotlib" in err and not (wavs / "r.png").exists()


def test_speaker_extra_imports_without_pkg_resources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """pip install 'rvclora[speaker]' on setuptools 81+: webrtcvad 2.0.10 reads its version through
    pkg_resources; resemblyzer still loads (a stand-in answers that call), and pkg_resources stays absent."""
    from rvclora.evaluate import speaker

    (tmp_path / "webrtcvad.py").write_text(
        "import pkg_resources\n__version__ = pkg_resources.get_distribution('numpy').version\n"
    )
    (tmp_path / "resemblyzer.py").write_text("import webrtcvad\nVAD_VERSION = webrtcvad.__version__\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "pkg_resources", None)  # as on setuptools 81+: the import fails
    real = {name: sys.modules.pop(name, None) for name in ("webrtcvad", "resemblyzer")}
    try:
        with pytest.raises(ImportError):
            __import__("webrtcvad")
        module = speaker._import_resemblyzer()
        assert module.VAD_VERSION == np.__version__
        assert sys.modules["pkg_resources"] is None  # the stand-in is gone again
    finally:  # later tests must see the real packages (or none), never these fakes
        for name, original in real.items():
            sys.modules.pop(name, None)
            if original is not None:
                sys.modules[name] = original


@pytest.mark.slow
def test_plot_is_written(capsys: pytest.CaptureFixture[str], wavs: Path) -> None:
    pytest.importorskip("matplotlib")
    code, _, err = run(
        capsys,
        "eval",
        wavs / "ref.wav",
        wavs / "up3.wav",
        "--plot",
        wavs / "report.png",
        "--f0-method",
        "dio",
        "--no-speaker",
    )
    assert code == 0, err
    assert (wavs / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class _FakeEncoder:
    """Embeds by spectral shape so equal voices agree; stands in for resemblyzer."""

    def embed(self, wav_16k: np.ndarray) -> np.ndarray | None:
        spectrum = np.abs(np.fft.rfft(wav_16k[:4096]))[:64]
        return spectrum if spectrum.any() else None


def test_speaker_similarity_against_reference_and_target_voice(wavs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rvclora.evaluate.compare as compare
    from rvclora.evaluate.settings import EvalSettings

    monkeypatch.setattr(compare, "load_speaker_encoder", lambda wanted, device: _FakeEncoder())
    same = compare.Evaluator(EvalSettings(f0_method="dio")).evaluate(wavs / "ref.wav", wavs / "ref.wav")
    assert same.metrics["speaker_similarity"] == pytest.approx(1.0)
    target = wavs / "target"
    target.mkdir()
    sf.write(target / "t1.wav", harmonic_voice(200.0 * 2 ** (3 / 12), vibrato=0.0, seed=5), SR)
    sf.write(target / "t2.wav", harmonic_voice(200.0 * 2 ** (3 / 12), vibrato=0.0, seed=6), SR)
    ev = compare.Evaluator(EvalSettings(f0_method="dio", target_voice=target))
    to_target = ev.evaluate(wavs / "flat.wav", wavs / "up3.wav").metrics["speaker_similarity"]
    fake = _FakeEncoder()
    a = fake.embed(harmonic_voice(200.0 * 2 ** (3 / 12), vibrato=0.0, seed=5))
    b = fake.embed(harmonic_voice(200.0 * 2 ** (3 / 12), vibrato=0.0, seed=6))
    centroid = (a / np.linalg.norm(a) + b / np.linalg.norm(b)) / 2
    conv = fake.embed(harmonic_voice(200.0 * 2 ** (3 / 12), vibrato=0.0))
    assert to_target == pytest.approx(
        float(conv @ centroid / (np.linalg.norm(conv) * np.linalg.norm(centroid))), rel=1e-4
    )


def _band_limited_pair(tmp_path: Path) -> dict[int, tuple[Path, Path]]:
    """A full-band 44.1 kHz reference and a conversion with nothing above 11 kHz; the same pair at 16 kHz."""
    from rvclora.audio.io import resample

    ref = harmonic_voice(200.0, sr=44100)
    conv = resample(resample(harmonic_voice(210.0, sr=44100, seed=3), 44100, 22050), 22050, 44100)
    files = {}
    for rate in (44100, 16000):
        pair = (tmp_path / f"ref{rate}.wav", tmp_path / f"conv{rate}.wav")
        sf.write(pair[0], resample(ref, 44100, rate), rate)
        sf.write(pair[1], resample(conv, 44100, rate), rate)
        files[rate] = pair
    return files


def test_mcd_is_comparable_across_sample_rates(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Empty bands above 11 kHz must not inflate the 44.1 kHz score: every pair is analysed at 16 kHz."""
    files = _band_limited_pair(tmp_path)
    scores = {rate: run_json(capsys, "eval", *pair, "--f0-method", "dio") for rate, pair in files.items()}
    assert scores[44100]["mcd_db"] == pytest.approx(scores[16000]["mcd_db"], rel=0.1)
    assert scores[44100]["spectral_convergence"] == pytest.approx(scores[16000]["spectral_convergence"], rel=0.1)
    assert scores[44100]["sample_rate"] == scores[16000]["sample_rate"] == 16000


def test_pymcd_style_is_lower_than_classic_and_unrated(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ref, conv = _band_limited_pair(tmp_path)[16000]
    classic = run_json(capsys, "eval", ref, conv, "--f0-method", "dio")
    pymcd = run_json(capsys, "eval", ref, conv, "--f0-method", "dio", "--mcd-style", "pymcd")
    assert classic["mcd_style"] == "classic" and pymcd["mcd_style"] == "pymcd"
    assert 0.0 < pymcd["mcd_db"] < classic["mcd_db"]
    assert classic["ratings"]["mcd_db"] is not None and pymcd["ratings"]["mcd_db"] is None
    assert any("pymcd" in note for note in pymcd["notes"])


def test_ratings_are_printed_beside_the_metrics(
    capsys: pytest.CaptureFixture[str], wavs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(capsys, "eval", wavs / "ref.wav", wavs / "ref.wav", "--f0-method", "dio", "--no-speaker")
    assert code == 0, err
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 3}
    assert "excellent" in lines["MCD dB"] and "excellent" in lines["spec. conv."] and "excellent" in lines["F0 corr"]
    assert "…" not in out and "rating" in out
    data = run_json(capsys, "eval", wavs / "ref.wav", wavs / "flat.wav", "--f0-method", "dio")
    assert set(data["ratings"]) == {"mcd_db", "f0_corr", "spectral_convergence"}


def test_library_runs_folders_and_checks_plots_first(wavs: Path) -> None:
    """``rvclora eval``'s work is one library call (rvclora.evaluate.run); the command only renders it."""
    from rvclora.errors import BadInputError, ConfigError
    from rvclora.evaluate.run import EvalRequest, run_eval
    from rvclora.evaluate.settings import EvalSettings

    refs, convs = wavs / "refs", wavs / "convs"
    refs.mkdir(), convs.mkdir()
    for name, f0 in (("a", 180.0), ("b", 220.0)):
        sf.write(refs / f"{name}.wav", harmonic_voice(f0), SR)
        sf.write(convs / f"{name}.wav", harmonic_voice(f0 * 2 ** (1 / 12)), SR)
    settings = EvalSettings(f0_method="dio", speaker=False)
    with pytest.raises(BadInputError, match="both be files or both be folders"):
        run_eval(EvalRequest(wavs / "ref.wav", refs, settings))
    with pytest.raises(ConfigError, match="in folder mode --plot names a folder"):
        run_eval(EvalRequest(refs, convs, settings, plot=wavs / "x.png"))
    with pytest.raises(ConfigError, match="unknown image type"):
        run_eval(EvalRequest(wavs / "ref.wav", wavs / "up3.wav", settings, plot=wavs / "x.gif"))
    seen: list[tuple[str, int, int]] = []
    run_ = run_eval(EvalRequest(refs, convs, settings), on_pair=lambda *a: seen.append(a))
    assert seen == [("a", 0, 2), ("a", 1, 2), ("b", 1, 2), ("b", 2, 2)]
    assert run_.pairing is not None and [r.name for r in run_.results] == ["a", "b"]
    assert all(r.metrics["f0_rmse_cents"] == pytest.approx(100.0, abs=10.0) for r in run_.results)
