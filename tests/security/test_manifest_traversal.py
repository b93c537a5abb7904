"""A crafted manifest or workspace links must never make a stage delete (or read) files outside the workspace."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers_assets import one_line, run_cli

MANIFEST = Path(".rvclora") / "manifest.json"


def _plant(root: Path, stage: str, outputs: list[str]) -> None:
    """Point one entry of ``stage`` at ``outputs`` and make it stale (new settings hash), as an attacker would."""
    path = root / MANIFEST
    doc = json.loads(path.read_text())
    entries = doc["stages"].setdefault(stage, {})
    key = next(iter(entries), "0_gone")  # an existing key is stale; a new one names a clip that is gone
    entries[key] = {**entries.get(key, {"inputs": {}, "info": {}}), "outputs": outputs, "settings_hash": "x"}
    path.write_text(json.dumps(doc))


@pytest.fixture
def victims(tmp_path: Path) -> list[Path]:
    paths = [tmp_path / "victim.txt", tmp_path / "victim2.txt"]
    for p in paths:
        p.write_text("precious")
    return paths


@pytest.mark.parametrize("stage,command", [("preprocess", "preprocess"), ("extract.features", "extract")])
def test_absolute_and_parent_paths_are_refused_and_victims_survive(
    workspace: Path, victims: list[Path], stage: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _plant(workspace, stage, [str(victims[0]), "../victim2.txt"])  # workspace is tmp_path/voice
    before = (workspace / MANIFEST).read_bytes()
    code, _, err = (
        run_cli(capsys, command, str(workspace), "--device", "cpu")
        if command == "extract"
        else run_cli(capsys, command, str(workspace))
    )
    assert code == 2
    line = one_line(err)
    assert "manifest.json" in line and stage in line and "outside" in line
    assert all(p.read_text() == "precious" for p in victims)
    assert (workspace / MANIFEST).read_bytes() == before  # a refused command changes nothing


@pytest.mark.parametrize("stored", ["clips/../../victim.txt", "raw/a.wav", "rvclora.yaml", "clips/32k/../../raw/a.wav"])
def test_files_the_workspace_did_not_create_are_refused(
    workspace: Path, tmp_path: Path, stored: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "victim.txt").write_text("precious")
    _plant(workspace, "preprocess", [stored])
    code, _, err = run_cli(capsys, "preprocess", str(workspace))
    assert code == 2 and stored in one_line(err)
    assert (tmp_path / "victim.txt").exists() and (workspace / "raw" / "a.wav").exists()
    assert (workspace / "rvclora.yaml").exists()


def test_an_output_folder_linked_outside_is_refused(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``features -> elsewhere`` plus a relative manifest path inside it: lexically inside, really outside."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "victim.npy").write_text("precious")
    (elsewhere / ".dotfile").write_text("precious")  # extract's sweep deletes hidden files in features/
    os.symlink(elsewhere, workspace / "features")
    _plant(workspace, "extract.features", ["features/victim.npy"])
    code, _, err = run_cli(capsys, "extract", str(workspace), "--device", "cpu")
    assert code == 2 and "outside" in one_line(err)
    assert sorted(p.name for p in elsewhere.iterdir()) == [".dotfile", "victim.npy"]


def test_a_linked_output_file_is_refused(workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "victim.wav").write_text("precious")
    os.symlink(tmp_path / "victim.wav", workspace / "clips" / "32k" / "link.wav")
    _plant(workspace, "preprocess", ["clips/32k/link.wav"])
    code, _, err = run_cli(capsys, "preprocess", str(workspace))
    assert code == 2 and "link.wav" in one_line(err)
    assert (tmp_path / "victim.wav").read_text() == "precious"


@pytest.mark.parametrize("folder", ["clips/32k", "features", ".rvclora", "checkpoints"])
def test_workspace_folders_linked_outside_are_refused_before_any_sweep(
    workspace: Path, tmp_path: Path, folder: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """preprocess deletes stray .wav files in clips/<sr>/: through a link that would be someone else's audio."""
    elsewhere = tmp_path / "music"
    target = workspace / folder
    if target.exists():
        os.rename(target, elsewhere)
    else:
        elsewhere.mkdir()
    (elsewhere / "song.wav").write_text("precious")
    os.symlink(elsewhere, target)
    code, _, err = run_cli(capsys, "preprocess", str(workspace))
    assert code == 2 and "leads outside the workspace" in one_line(err)
    assert (elsewhere / "song.wav").read_text() == "precious"


def test_an_untouched_manifest_still_works(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "preprocess", str(workspace), "--json")
    assert code == 0, err
    assert json.loads(out)["up_to_date"] == 2
