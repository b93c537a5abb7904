"""The extract stage: outputs and shapes, the index, the silence item, incremental runs, bad assets, the CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers_assets import build_tiny_hubert, preprocessed_workspace, run_cli, voice_like

from rvclora.audio.preprocess import preprocess_workspace
from rvclora.errors import BadInputError, ConfigError, WorkspaceBusyError
from rvclora.features import extract as ex
from rvclora.features.extract import extract
from rvclora.features.hubert import load_content_encoder
from rvclora.features.index import index_vectors, ivf_lists, load_index
from rvclora.workspace import Workspace

SR = 32000


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, reference_dir: Path) -> Iterator[Path]:
    """A preprocessed workspace (3 clips of harmonic tones around silences), copied by each test."""
    root = tmp_path_factory.mktemp("template") / "voice"
    gap = np.zeros(SR // 2, dtype=np.float32)
    recordings = {
        "low": np.concatenate([gap, voice_like(5.0, SR, 150.0), gap]),
        "high": np.concatenate([voice_like(2.0, SR, 220.0, seed=1), gap]),
    }
    hubert = str(reference_dir / "hubert_tiny_fairseq.pt")
    assert preprocessed_workspace(root, recordings, SR, {"sr": "32k", "assets.hubert": hubert}) == 3
    yield root


@pytest.fixture
def voice(template: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "voice"
    shutil.copytree(template, dest)
    return dest


def _open(root: Path, **overrides: object) -> Workspace:
    return Workspace.open(root, create=False, overrides=overrides or None)


def _clip_names(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "clips" / "16k").glob("*.wav") if p.stem != ex.MUTE)


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.npy")}


def test_outputs_shapes_mute_and_index(voice: Path, reference_dir: Path) -> None:
    summary = extract(_open(voice))
    names = _clip_names(voice)
    assert summary.clips == len(names) == 3 and summary.features_done == summary.f0_done == 3
    assert summary.f0_method == "dio" and summary.device == "cpu" and not summary.skipped
    encoder = load_content_encoder(reference_dir / "hubert_tiny_fairseq.pt")
    total, voiced, sizes = 0, [], []
    for name in names:
        wav, sr = sf.read(voice / "clips" / "16k" / f"{name}.wav", dtype="float32")
        n = len(wav)
        sizes.append(n)
        feats = np.load(voice / "features" / f"{name}.npy")
        f0 = np.load(voice / "f0" / f"{name}.npy")
        assert sr == 16000 and feats.dtype == np.float32 and f0.dtype == np.float32
        assert feats.shape == ((n - 400) // 320 + 1, 32)
        assert f0.shape == (n // 160 + 1,)
        # batched extraction gives what a one-clip call of the encoder gives
        np.testing.assert_allclose(feats, encoder.extract(wav, "v2"), atol=1e-4)
        total += feats.shape[0]
        voiced.append(f0[f0 > 0])
        expected_pitch = 150.0 if name.startswith("0_low") else 220.0
        assert np.median(f0[f0 > 0]) == pytest.approx(expected_pitch, rel=0.06)
    assert summary.frames == total and summary.feature_dim == 32
    voiced_all = np.concatenate(voiced)
    assert summary.f0_frames == sum(n // 160 + 1 for n in sizes)
    assert summary.voiced_fraction == pytest.approx(voiced_all.size / summary.f0_frames)
    assert (summary.f0_min_hz, summary.f0_max_hz) == pytest.approx((voiced_all.min(), voiced_all.max()))

    # the silence item: 3 s of zeros at both rates, its features and zero pitch
    assert sf.info(voice / "clips" / "32k" / "mute.wav").frames == 3 * SR
    mute_16k, _ = sf.read(voice / "clips" / "16k" / "mute.wav", dtype="float32")
    assert mute_16k.shape == (48000,) and not mute_16k.any()
    np.testing.assert_allclose(np.load(voice / "features" / "mute.npy"), encoder.extract(mute_16k, "v2"), atol=1e-4)
    mute_f0 = np.load(voice / "f0" / "mute.npy")
    assert mute_f0.shape == (301,) and not mute_f0.any() and np.load(voice / "features" / "mute.npy").shape[0] == 149

    # RVC's index: all clip features (not the silence item), named like RVC's added_ file
    (path,) = (voice / "index").glob("*.index")
    assert path.name == f"added_IVF{ivf_lists(total)}_Flat_nprobe_1_voice_v2.index"
    index = load_index(path, expected_dim=32)
    assert index.ntotal == total == summary.index["ntotal"]
    stored = index_vectors(index)
    feats = np.concatenate([np.load(voice / "features" / f"{n}.npy") for n in names])
    np.testing.assert_array_equal(stored[np.lexsort(stored.T)], feats[np.lexsort(feats.T)])


@pytest.mark.slow
def test_rerun_does_nothing_and_settings_redo_only_what_they_affect(
    voice: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extract(_open(voice))
    feats_before, f0_before = _mtimes(voice / "features"), _mtimes(voice / "f0")

    def no_models(*args: object, **kwargs: object) -> None:
        raise AssertionError("an up-to-date workspace must not load any model")

    with monkeypatch.context() as mp:
        mp.setattr("rvclora.features.hubert.load_content_encoder", no_models)
        mp.setattr("rvclora.features.f0.load_f0_estimator", no_models)
        again = extract(_open(voice))
    assert (again.features_done, again.f0_done, again.up_to_date) == (0, 0, 3)
    assert again.index["rebuilt"] is False and again.frames > 0
    assert _mtimes(voice / "features") == feats_before and _mtimes(voice / "f0") == f0_before

    ws = _open(voice, f0_method="harvest")
    harvest = extract(ws)
    ws.save_settings()  # as `rvclora extract --f0-method harvest` does once it succeeded
    assert (harvest.features_done, harvest.f0_done, harvest.f0_method) == (0, 3, "harvest")
    assert harvest.index["rebuilt"] is False
    assert _mtimes(voice / "features") == feats_before
    changed = _mtimes(voice / "f0")
    assert all(changed[k] != f0_before[k] for k in changed if k != "mute.npy")

    v1 = extract(_open(voice, version="v1"))
    assert (v1.features_done, v1.f0_done) == (3, 0) and v1.feature_dim == 16  # final_proj of the tiny model
    assert v1.index["rebuilt"] is True
    (path,) = (voice / "index").glob("*.index")  # the v2 index was replaced
    assert path.name.endswith("_voice_v1.index") and load_index(path).d == 16
    assert np.load(voice / "features" / "mute.npy").shape == (149, 16)


def test_removed_clips_lose_their_outputs(voice: Path) -> None:
    extract(_open(voice))
    (voice / "raw" / "high.wav").unlink()
    ws = _open(voice)
    preprocess_workspace(ws)
    summary = extract(ws)
    assert summary.clips == 2 and summary.removed == 1 and summary.index["rebuilt"] is True
    assert sorted(p.stem for p in (voice / "features").glob("*.npy")) == sorted(_clip_names(voice) + ["mute"])
    assert load_index(summary.index["path"]).ntotal == summary.frames
    assert (voice / "clips" / "32k" / "mute.wav").is_file()  # preprocess sweeps it; extract puts it back


def test_interrupted_run_leaves_nothing_half_written_and_resumes(voice: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_save, calls = ex.save_npy, []

    def flaky(path: Path, array: np.ndarray) -> None:
        calls.append(path)
        if len(calls) == 2:
            with ex.atomic_write(path) as tmp:  # die in the middle of writing the second file
                tmp.write_bytes(b"half")
                raise KeyboardInterrupt
        real_save(path, array)

    monkeypatch.setattr(ex, "save_npy", flaky)
    with pytest.raises(KeyboardInterrupt):
        extract(_open(voice))
    monkeypatch.setattr(ex, "save_npy", real_save)
    leftovers = [p.name for p in (voice / "features").iterdir()]
    assert len(leftovers) == 1 and leftovers[0].endswith(".npy") and not leftovers[0].startswith(".")
    assert not (voice / ".rvclora" / "lock").exists()
    summary = extract(_open(voice))
    assert (summary.features_done, summary.f0_done) == (2, 3)
    assert len(list((voice / "features").glob("*.npy"))) == 4 and summary.index["ntotal"] == summary.frames


def test_nan_clip_is_skipped_reported_and_its_old_outputs_removed(voice: Path) -> None:
    first = extract(_open(voice))
    name = _clip_names(voice)[1]
    path = voice / "clips" / "16k" / f"{name}.wav"
    wav, sr = sf.read(path, dtype="float32")
    wav[100:200] = np.nan
    sf.write(path, wav, sr, subtype="FLOAT")
    summary = extract(_open(voice))
    assert [s["clip"] for s in summary.skipped] == [name] and "NaN" in summary.skipped[0]["reason"]
    assert not (voice / "features" / f"{name}.npy").exists() and not (voice / "f0" / f"{name}.npy").exists()
    assert summary.features_done == 0 and summary.up_to_date == 2
    assert summary.index["rebuilt"] and summary.index["ntotal"] == summary.frames < first.frames


@pytest.mark.slow
def test_rmvpe_by_default_when_configured_and_v1_features(voice: Path, reference_dir: Path) -> None:
    hubert = build_tiny_hubert(voice.parent / "hubert_v1.pt", "v1")
    ws = _open(
        voice,
        f0_method="auto",
        version="v1",
        **{
            "assets.rmvpe": str(reference_dir / "rmvpe_tiny.pt"),
            "assets.hubert": str(hubert),
            "extract.build_index": False,
        },
    )
    summary = extract(ws)
    assert summary.f0_method == "rmvpe" and summary.feature_dim == 256 and summary.index is None
    assert not (voice / "index").exists()
    for name in _clip_names(voice):
        n = sf.info(voice / "clips" / "16k" / f"{name}.wav").frames
        assert np.load(voice / "features" / f"{name}.npy").shape == ((n - 400) // 320 + 1, 256)
        assert np.load(voice / "f0" / f"{name}.npy").shape == (n // 160 + 1,)


def test_no_pitch_workspace_writes_no_f0(voice: Path) -> None:
    summary = extract(_open(voice, f0=False, **{"extract.build_index": False}))
    assert summary.f0_method is None and summary.f0_done == 0 and summary.features_done == 3
    assert not (voice / "f0").exists() and (voice / "features" / "mute.npy").is_file()


def test_bad_assets_stop_before_any_work(voice: Path, reference_dir: Path) -> None:
    # model files given as options are identified when the workspace is opened, before extract starts
    with pytest.raises(ConfigError, match="--hubert: .*not a HuBERT.*RVC voice model"):
        extract(_open(voice, **{"assets.hubert": str(reference_dir / "v2_40k_f0_tiny.pth")}))
    with pytest.raises(ConfigError, match="--rmvpe: .*not an RMVPE pitch model"):
        extract(
            _open(
                voice,
                f0_method="rmvpe",
                **{
                    "assets.hubert": str(reference_dir / "hubert_tiny_fairseq.pt"),
                    "assets.rmvpe": str(reference_dir / "v2_40k_f0_tiny.pth"),
                },
            )
        )
    with pytest.raises(ConfigError, match="fp16"):
        extract(_open(voice, f0_method="dio"), precision="fp16")  # fp16 needs a GPU
    assert not (voice / "features").exists() and not (voice / "f0").exists() and not (voice / "index").exists()


def test_missing_setup_says_what_to_do(tmp_path: Path, reference_dir: Path) -> None:
    Workspace.open(
        tmp_path / "empty", overrides={"assets.hubert": str(reference_dir / "hubert_tiny_fairseq.pt")}
    ).save_settings()
    with pytest.raises(BadInputError, match="no clips") as info:
        extract(tmp_path / "empty")
    assert "rvclora preprocess" in str(info.value)
    Workspace.open(tmp_path / "nohubert").save_settings()
    with pytest.raises(ConfigError, match="assets.hubert"):
        extract(tmp_path / "nohubert")


def test_busy_workspace_is_refused(voice: Path) -> None:
    lock = voice / ".rvclora" / "lock"
    lock.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "command": "train"}))
    with pytest.raises(WorkspaceBusyError, match="train"):
        extract(_open(voice))
    assert not (voice / "features").exists()


@pytest.mark.slow
def test_cli_json_and_one_line_errors(voice: Path, reference_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "extract", str(voice), "--batch-size", "2", "--device", "cpu", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["clips"] == 3 and data["features_done"] == 3 and data["f0_method"] == "dio"
    assert data["index"]["ntotal"] == data["frames"] and re.search(r"added_IVF\d+_Flat_nprobe_1_voice_v2", out)
    assert _open(voice).settings.extract.batch_size == 2  # recorded in rvclora.yaml like every override

    code, out, err = run_cli(capsys, "extract", str(voice), "--hubert", str(reference_dir / "v2_40k_f0_tiny.pth"))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "not a HuBERT" in lines[0] and not out

    code, out, err = run_cli(capsys, "extract", str(voice.parent / "nowhere"))
    assert code == 2 and "not an rvclora workspace" in err
