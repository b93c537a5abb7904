"""A failed command changes nothing (no setting stored, no folder created); `rvclora config` shows, sets and
clears settings. Commands run in-process through the real entry point (exit codes as a user sees them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers_assets import run_cli

from rvclora.workspace import Workspace


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code, out, err = run_cli(capsys, *args)
    return code, out, " ".join(err.split())  # rich wraps long lines


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace with stored settings and clips at the model rate (no features yet)."""
    import numpy as np
    import soundfile as sf

    root = tmp_path / "voice"
    Workspace.open(root, overrides={"train.max_steps": 7}).save_settings()
    (root / "clips" / "40k").mkdir(parents=True)
    sf.write(root / "clips" / "40k" / "a_0.wav", np.zeros(40000, np.float32), 40000)
    return root


def _yaml(root: Path) -> str:
    return (root / "rvclora.yaml").read_text()


def test_extract_with_an_unusable_f0_method_stores_nothing(capsys: pytest.CaptureFixture[str], ws: Path) -> None:
    before = _yaml(ws)
    code, _, err = run(capsys, "extract", ws, "--f0-method", "rmvpe")
    assert code == 2 and "f0_method rmvpe needs the RMVPE model" in err
    assert _yaml(ws) == before


def test_train_with_a_song_as_content_encoder_stores_nothing(
    capsys: pytest.CaptureFixture[str], ws: Path, reference_dir: Path, tmp_path: Path
) -> None:
    song = tmp_path / "song.wav"
    song.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    before = _yaml(ws)
    code, _, err = run(capsys, "train", ws, "--base", reference_dir / "v2_40k_f0_tiny.G.pth", "--hubert", song)
    assert code == 2 and "--hubert: song.wav is not a HuBERT/ContentVec content encoder" in err
    assert _yaml(ws) == before  # neither --hubert nor --base was stored


def test_train_without_a_content_encoder_says_so(
    capsys: pytest.CaptureFixture[str], ws: Path, reference_dir: Path
) -> None:
    before = _yaml(ws)
    code, _, err = run(capsys, "train", ws, "--base", reference_dir / "v2_40k_f0_tiny.G.pth")
    assert code == 2 and "no content encoder configured (assets.hubert)" in err and "--hubert" in err
    assert "run rvclora extract" not in err
    assert _yaml(ws) == before


@pytest.mark.parametrize("command", ["train", "preprocess"])
def test_a_typo_d_workspace_leaves_no_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, reference_dir: Path, command: str
) -> None:
    extra = ["--base", str(reference_dir / "v2_40k_f0_tiny.G.pth")] if command == "train" else []
    code, _, err = run(capsys, command, tmp_path / "alcie", *extra)
    assert code == 2 and ("no recordings" in err or "input folder not found" in err), err
    assert not (tmp_path / "alcie").exists()


def test_config_shows_where_each_setting_comes_from(capsys: pytest.CaptureFixture[str], ws: Path) -> None:
    code, out, _ = run(capsys, "config", ws, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["changed"] is False
    line = next(
        i
        for i, text in enumerate((ws / "rvclora.yaml").read_text().splitlines(), 1)
        if text.strip().startswith("max_steps:")
    )
    assert data["settings"]["train.max_steps"] == {"value": 7, "from": f"rvclora.yaml line {line}"}
    assert data["settings"]["assets.hubert"]["value"] is None
    code, out, _ = run(capsys, "config", ws)
    assert code == 0 and "train.max_steps" in out and "None" not in out


@pytest.mark.slow
def test_config_sets_and_clears_values_after_checking_them(
    capsys: pytest.CaptureFixture[str], ws: Path, reference_dir: Path
) -> None:
    hubert = reference_dir / "hubert_tiny_fairseq.pt"
    code, _, err = run(
        capsys, "config", ws, "--set", "train.lr=1e-4", "--set", f"assets.hubert={hubert}", "--unset", "train.max_steps"
    )
    assert code == 0, err
    stored = yaml.safe_load(_yaml(ws))
    assert stored["train"]["lr"] == 1e-4 and stored["train"]["max_steps"] is None
    assert Path(stored["assets"]["hubert"]).resolve() == hubert.resolve()
    before = _yaml(ws)
    for bad, needle in [
        (["--set", "f0_method=rmvpe"], "needs the RMVPE model"),
        (["--set", "train.epochs=many"], "--set train.epochs: 'train.epochs' must be a whole number"),
        (["--set", "train.epoch=3"], "did you mean 'train.epochs'"),
        (["--unset", "assets.huber"], "did you mean 'assets.hubert'"),
        (["--set", "train.epochs"], "expected KEY=VALUE"),
        (["--set", "assets.base=song.wav"], "file does not exist"),
    ]:
        code, _, err = run(capsys, "config", ws, *bad)
        assert code == 2 and needle in err, (bad, err)
        assert _yaml(ws) == before


def test_config_of_a_missing_workspace_creates_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "config", tmp_path / "alcie", "--set", "train.epochs=3")
    assert code == 2 and "not an rvclora workspace" in err
    assert not (tmp_path / "alcie").exists()
