"""``rvclora demo --quick``: every step produces its output, through the same stages the commands use."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rvclora.cli import main


def _cli(*args: str) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One quick demo run shared by the checks below (the slow part: well under a minute on 2 cores)."""
    root = tmp_path_factory.mktemp("demo") / "world"
    code, out, err = _cli("demo", str(root), "--quick", "--json")
    assert code == 0, err[-3000:]
    return root, json.loads(out)


@pytest.mark.slow
def test_json_summarises_every_step(demo: tuple[Path, dict[str, Any]]) -> None:
    root, summary = demo
    from rvclora.demo.runner import STEPS

    assert list(summary["steps"]) == list(STEPS)
    assert summary["complete"] and summary["quick"] and summary["dir"] == str(root.resolve())
    from rvclora.demo.world import speech_engine

    assert summary["speech_source"].startswith(speech_engine() or "rvclora's built-in formant synthesizer")
    assert "randomly initialised" in summary["note"]
    for key, where in (
        ("base", "pretrained_v2/f0G40k.pth"),
        ("hubert", "hubert/hubert_base.pt"),
        ("rmvpe", "rmvpe/rmvpe.pt"),
        ("base_d", "pretrained_v2/f0D40k.pth"),
    ):
        assert f"assets.{key}:" in summary["note"] and where in summary["note"]
    stamp = json.loads((root / "demo.json").read_text())
    assert stamp["complete"] and stamp["steps"]["train"] == summary["steps"]["train"]
    assert all(step["seconds"] >= 0 for step in summary["steps"].values())


@pytest.mark.slow
def test_clips_features_pitch_and_index(demo: tuple[Path, dict[str, Any]]) -> None:
    from rvclora.audio.io import load_audio

    root, summary = demo
    ws = root / "voice"
    clips = sorted((ws / "clips" / "40k").glob("*.wav"))
    names = [c.stem for c in clips if c.stem != "mute"]
    assert len(names) >= 2 and summary["steps"]["preprocess"]["clips"] == len(names)
    for name in names:
        wav16, sr = load_audio(ws / "clips" / "16k" / f"{name}.wav")
        assert sr == 16000
        feats = np.load(ws / "features" / f"{name}.npy")
        assert feats.dtype == np.float32 and feats.shape == ((len(wav16) - 400) // 320 + 1, 768)
        f0 = np.load(ws / "f0" / f"{name}.npy")
        assert f0.shape == (len(wav16) // 160 + 1,) and (f0 > 0).any()
    assert list((ws / "index").glob("added_*_v2.index"))


@pytest.mark.slow
def test_adapter_fits_the_base(demo: tuple[Path, dict[str, Any]]) -> None:
    from rvclora.inspect.stage import describe
    from rvclora.lora.fingerprint import base_fingerprint
    from rvclora.models.checkpoint import load_synthesizer

    root, summary = demo
    adapter = Path(summary["steps"]["train"]["output"])
    assert adapter.is_file() and adapter.parent == root / "voice" / "adapters"
    desc = describe(adapter)
    assert desc["kind"] == "rvclora-adapter" and desc["version"] == "v2" and desc["sr"] == 40000
    assert desc["base_fingerprint"] == base_fingerprint(load_synthesizer(root / "assets" / "demo_f0G40k.pth"))
    assert summary["steps"]["train"]["steps"] == 2
    assert summary["steps"]["inspect"]["adapter_fits_base"] is True


@pytest.mark.slow
def test_converted_audio_has_the_source_length(demo: tuple[Path, dict[str, Any]]) -> None:
    from rvclora.audio.io import load_audio

    root, summary = demo
    src, src_sr = load_audio(root / "test" / "source_voice_b.wav")
    out, out_sr = load_audio(summary["steps"]["infer"]["output"])
    assert out_sr == 40000 == src_sr
    assert abs(len(out) - len(src)) <= 400  # at most one 10 ms frame of the 40k model
    assert np.isfinite(out).all() and np.abs(out).max() > 0


@pytest.mark.slow
def test_merged_model_loads_in_rvc(demo: tuple[Path, dict[str, Any]]) -> None:
    from rvclora.models.checkpoint import load_rvc_inference

    root, _ = demo
    net = load_rvc_inference(root / "voice.pth")
    assert not hasattr(net, "enc_q") or net.enc_q is None


@pytest.mark.slow
def test_eval_reports_every_metric(demo: tuple[Path, dict[str, Any]]) -> None:
    from rvclora.evaluate.compare import METRIC_KEYS

    _, summary = demo
    metrics = summary["steps"]["eval"]  # the same object as `rvclora eval --json` for one pair
    assert set(METRIC_KEYS) <= set(metrics)
    assert metrics["mcd_db"] is not None and math.isfinite(metrics["mcd_db"])


@pytest.mark.slow
def test_second_run_resumes(demo: tuple[Path, dict[str, Any]]) -> None:
    root, first = demo
    adapter = Path(first["steps"]["train"]["output"])
    before = adapter.stat().st_mtime_ns
    code, out, err = _cli("demo", str(root), "--quick", "--json")
    assert code == 0, err[-3000:]
    steps = json.loads(out)["steps"]
    assert steps["preprocess"]["processed"] == 0 and steps["preprocess"]["up_to_date"] > 0
    assert steps["train"]["stopped"] == "already_finished" and adapter.stat().st_mtime_ns == before
    assert steps["infer"]["status"].startswith("skipped") and steps["merge"]["status"].startswith("kept")


@pytest.mark.slow
def test_a_newer_adapter_is_converted_and_merged_again(demo: tuple[Path, dict[str, Any]]) -> None:
    """Infer and merge follow one rule: an output older than the adapter is redone, so they never disagree."""
    import os

    root, first = demo
    adapter = Path(first["steps"]["train"]["output"])
    converted, merged = Path(first["steps"]["infer"]["output"]), root / "voice.pth"
    later = max(converted.stat().st_mtime_ns, merged.stat().st_mtime_ns) + 10**9
    os.utime(adapter, ns=(later, later))  # as if training had rewritten it
    code, out, err = _cli("demo", str(root), "--quick", "--json")
    assert code == 0, err[-3000:]
    steps = json.loads(out)["steps"]
    assert not steps["infer"]["status"].startswith("skipped") and steps["merge"]["status"] == "written"
    assert converted.stat().st_mtime_ns >= later and merged.stat().st_mtime_ns >= later


def test_the_default_folder_is_in_the_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rvclora.demo.runner import default_folder

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_folder() == tmp_path / "cache" / "rvclora" / "demo"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_folder() == tmp_path / "home" / ".cache" / "rvclora" / "demo"


@pytest.mark.slow
def test_refuses_another_seed_and_foreign_folders(demo: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root, _ = demo
    code, out, err = _cli("demo", str(root), "--quick", "--seed", "7")
    assert code == 2 and "--overwrite" in err and out == ""
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    code, _, err = _cli("demo", str(foreign), "--overwrite")
    assert code == 2 and "not an rvclora demo folder" in err
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_overwrite_empties_only_a_demo_folder(tmp_path: Path) -> None:
    from rvclora.demo.runner import STAMP, Plan, prepare_folder
    from rvclora.errors import OutputError

    root = tmp_path / "d"
    prepare_folder(root, Plan.make(True, 0), overwrite=False)
    (root / "old").mkdir()
    (root / "old" / "x.wav").write_bytes(b"x")
    with pytest.raises(OutputError):
        prepare_folder(root, Plan.make(False, 0), overwrite=False)  # a full run over a quick one
    assert (root / "old" / "x.wav").is_file()
    prepare_folder(root, Plan.make(False, 0), overwrite=True)
    assert sorted(p.name for p in root.iterdir()) == [STAMP]
    assert json.loads((root / STAMP).read_text()) == {"seed": 0, "quick": False, "complete": False}


def test_voices_differ_as_designed() -> None:
    """The two synthetic speakers sit near their design F0 (115 / 215 Hz), measured by an independent tracker."""
    from rvclora.audio.io import resample
    from rvclora.demo.speech import VOICES, make_sentences, synthesize
    from rvclora.features.f0 import load_f0_estimator

    sentence = make_sentences(1, 6, seed=3)[0]
    est = load_f0_estimator("dio")
    for voice in VOICES:
        wav = synthesize(sentence, voice, 40000, seed=1)
        assert wav.dtype == np.float32 and abs(np.abs(wav).max() - 0.6) < 1e-3
        f0 = est.estimate(resample(wav, 40000, 16000))
        voiced = f0[f0 > 0]
        assert voiced.size > 0.4 * f0.size
        assert abs(12 * math.log2(np.median(voiced) / voice.f0_hz)) < 2.0  # within 2 semitones


@pytest.mark.slow
def test_tiny_assets_load_like_real_ones(tmp_path: Path) -> None:
    from rvclora.demo.assets import build_base, build_tiny_hubert, tiny_config
    from rvclora.features.hubert import load_content_encoder
    from rvclora.models.checkpoint import load_synthesizer

    config = tiny_config("v2", "40k")
    g, d = build_base(tmp_path / "G.pth", None, config, seed=0)
    assert d is None
    assert load_synthesizer(g).config == config  # the architecture is recovered from shapes alone
    enc = load_content_encoder(build_tiny_hubert(tmp_path / "hubert.pt", "v2"))
    assert enc.extract(np.zeros(16000, np.float32), "v2").shape == ((16000 - 400) // 320 + 1, 768)
