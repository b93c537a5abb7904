"""A truncated newest training checkpoint no longer blocks resume: the newest intact one is used, with a warning."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_train import make_dataset, make_job, steps_of

from rvclora.errors import IncompatibleError, RvcloraWarning
from rvclora.train.state import newest_intact_state


def test_the_newest_intact_state_is_chosen_and_the_bad_one_set_aside(tmp_path: Path) -> None:
    import torch

    older, newest = tmp_path / "state_e00001_s00000002.pt", tmp_path / "state_e00002_s00000004.pt"
    for p in (older, newest):
        torch.save({"format": 1, "base_fingerprint": "fp", "mode": "lora", "progress": {"step": p.name}}, p)
    newest.write_bytes(newest.read_bytes()[:300])
    with pytest.warns(RvcloraWarning, match=rf"skipped training checkpoint {newest.name}: .*truncated"):
        path, state = newest_intact_state(tmp_path, "fp", "lora")
    assert path == older and state is not None and state["progress"]["step"] == older.name
    assert sorted(p.name for p in tmp_path.iterdir()) == [older.name, f"{newest.name}.corrupt"]


@pytest.mark.slow
def test_resume_skips_a_truncated_newest_checkpoint(tmp_path: Path, reference_dir: Path) -> None:
    from rvclora.train.loop import run_training

    make_dataset(tmp_path, n_clips=2)  # batch 2: one step per epoch
    run_training(make_job(tmp_path, reference_dir, epochs=2, seed=3))  # a checkpoint after each epoch
    states = sorted((tmp_path / "checkpoints").glob("state_*.pt"))
    assert [p.name[:12] for p in states] == ["state_e00001", "state_e00002"]
    newest = states[-1]
    newest.write_bytes(newest.read_bytes()[:5000])  # a crash or full disk while copying the workspace
    with pytest.warns(RvcloraWarning, match=rf"skipped training checkpoint {newest.name}: .*truncated"):
        result = run_training(make_job(tmp_path, reference_dir, epochs=3, seed=3))
    assert result.resumed_from == states[0]
    assert (newest.parent / f"{newest.name}.corrupt").exists()
    assert result.steps == 3 and [r["step"] for r in steps_of(tmp_path)] == [1, 2, 3]  # step 2 redone, logged once


def test_no_intact_checkpoint_means_a_fresh_start(tmp_path: Path) -> None:
    (tmp_path / "state_e00001_s00000002.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.warns(RvcloraWarning, match="skipped"):
        assert newest_intact_state(tmp_path, "fp", "lora") == (None, None)


def test_another_base_still_stops(tmp_path: Path) -> None:
    import torch

    torch.save({"format": 1, "base_fingerprint": "other", "mode": "lora"}, tmp_path / "state_e00001_s00000002.pt")
    with pytest.raises(IncompatibleError, match="another base"):
        newest_intact_state(tmp_path, "fp", "lora")
