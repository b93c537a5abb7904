"""Training on the tiny v2-40k fixture: adapter contents, falling loss, frozen base, bad inputs.

The dataset is generated (helpers_train: harmonic tones, fixed random content features, constant f0) and
the discriminator is the small one, so each run takes seconds on CPU.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_train import BASE, make_dataset, make_job, make_workspace_data, steps_of


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, reference_dir: Path):
    """One run shared by several assertions: 5 clips, 8 epochs × 3 steps, one clip held out."""
    from rvclora.train.loop import run_training

    root = tmp_path_factory.mktemp("train")
    make_dataset(root)
    job = make_job(root, reference_dir, epochs=8, val_fraction=0.2, keep=2, save_every=3)
    return root, job, run_training(job)


@pytest.mark.slow
def test_adapter_holds_only_the_adapter_and_matches_the_base(trained, reference_dir: Path) -> None:
    from rvclora.lora.adapter import read_adapter
    from rvclora.lora.fingerprint import base_fingerprint
    from rvclora.models.checkpoint import load_synthesizer

    root, job, result = trained
    assert result.output == root / "adapters" / "voice.safetensors" and result.stopped == "finished"
    tensors, meta = read_adapter(result.output)
    assert tensors and all(k.endswith((".lora_A", ".lora_B")) or k.startswith("full.emb_g") for k in tensors)
    assert not any("enc_q" in k or k.startswith("full.dec") for k in tensors)
    assert meta.base_fingerprint == base_fingerprint(load_synthesizer(reference_dir / BASE))
    assert meta.info["training"]["steps"] == result.steps == 24
    # --save-every 3 → epochs 3 and 6 as epoch adapters, --keep 2 keeps both; epoch 8 is the final file
    assert sorted(p.name for p in (root / "adapters").glob("voice_e*")) == [
        "voice_e3_s9.safetensors",
        "voice_e6_s18.safetensors",
    ]
    assert len(list((root / "checkpoints").glob("state_*.pt"))) == 2
    assert (root / "logs" / "train.jsonl").is_file() and list((root / "logs").glob("events.out.tfevents*"))


def test_training_lowers_the_mel_loss(trained) -> None:
    root, _, result = trained
    mel = [r["loss_mel"] for r in steps_of(root)]
    assert len(mel) == 24
    assert np.mean(mel[-4:]) < 0.9 * np.mean(mel[:4])
    assert all("val_mel" in h for h in result.history)


@pytest.mark.slow
def test_frozen_base_is_bit_identical(trained, reference_dir: Path) -> None:
    from rvclora.lora.inject import remove_lora
    from rvclora.models.checkpoint import load_synthesizer

    _, _, result = trained
    before = load_synthesizer(reference_dir / BASE).state_dict()
    after = remove_lora(copy.deepcopy(result.net)).state_dict()
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k].cpu())}
    assert changed == {"emb_g.weight"}  # the one full module; enc_q and every wrapped base layer untouched


@pytest.mark.slow
def test_checkpoint_stores_only_trainable_tensors(trained) -> None:
    from rvclora.fileio import safe_torch_load
    from rvclora.lora.adapter import read_adapter

    root, _, result = trained
    state = safe_torch_load(sorted((root / "checkpoints").glob("state_*.pt"))[-1])
    names = set(state["trainable"])
    adapter = {k.removeprefix("full.") for k in read_adapter(result.output)[0]}
    assert names == adapter  # the adapter's factors + emb_g, nothing of the frozen base
    for name in names:
        assert torch.equal(state["trainable"][name], dict(result.net.named_parameters())[name].detach())
    assert state["progress"]["step"] == 24


@pytest.mark.slow
def test_resume_with_another_base_is_refused(tmp_path: Path, reference_dir: Path, trained) -> None:
    from rvclora.errors import IncompatibleError
    from rvclora.models.checkpoint import load_synthesizer
    from rvclora.train.loop import run_training

    root, job, _ = trained
    other = load_synthesizer(reference_dir / BASE)
    with torch.no_grad():
        other.dec.conv_post.weight.add_(0.01)
    torch.save({"model": other.state_dict()}, tmp_path / "other.G.pth")
    job2 = make_job(root, reference_dir, epochs=9)
    job2.base = tmp_path / "other.G.pth"
    with pytest.raises(IncompatibleError, match="another base model"):
        run_training(job2)


@pytest.mark.slow
def test_too_small_dataset_and_wrong_rate_are_clear_errors(tmp_path: Path, reference_dir: Path) -> None:
    from rvclora.errors import BadInputError, IncompatibleError
    from rvclora.train.loop import run_training

    make_dataset(tmp_path, n_clips=2, seconds=0.2)  # 20 frames < one 32-frame window
    with pytest.raises(BadInputError, match="shorter than one training window"):
        run_training(make_job(tmp_path, reference_dir))
    empty = tmp_path / "empty"
    make_dataset(empty, n_clips=0)
    with pytest.raises(BadInputError, match="no training clips"):
        run_training(make_job(empty, reference_dir))
    job = make_job(tmp_path, reference_dir)
    job.sr = 48000
    with pytest.raises(IncompatibleError, match="40000 Hz"):
        run_training(job)


@pytest.mark.slow
def test_divergence_stops_with_a_clear_message(tmp_path: Path, reference_dir: Path) -> None:
    from rvclora.errors import ConfigError
    from rvclora.train.loop import run_training

    make_dataset(tmp_path, n_clips=4)
    job = make_job(tmp_path, reference_dir, epochs=3)
    original = torch.nn.functional.l1_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):  # the 3rd mel loss (step 3) is NaN
        calls["n"] += 1
        out = original(*args, **kwargs)
        return out * float("nan") if calls["n"] == 3 else out

    torch.nn.functional.l1_loss = poisoned
    try:
        with pytest.raises(ConfigError, match="diverged at epoch 2, step 3.*last good checkpoint"):
            run_training(job)
    finally:
        torch.nn.functional.l1_loss = original
    states = list((tmp_path / "checkpoints").glob("state_*.pt"))
    assert [p.name for p in states] == ["state_e00001_s00000002.pt"]


@pytest.mark.slow
def test_cli_trains_a_workspace_and_resumes(
    tmp_path: Path, reference_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rvclora train WS --base ...` on a workspace with clips and features; a second call resumes."""
    import json

    from typer.testing import CliRunner

    import rvclora.train.workflow as workflow
    from rvclora.cli import app

    ws = make_workspace_data(tmp_path / "voice")
    real = workflow.run_training

    def small_d(job, *args):  # the full-width RVC D takes ~40 s per CPU step
        job.discriminator = {"periods": (2,), "width_divisor": 128}
        return real(job, *args)

    monkeypatch.setattr(workflow, "run_training", small_d)
    args = [
        "train",
        str(ws),
        "--base",
        str(reference_dir / BASE),
        "--device",
        "cpu",
        "--batch-size",
        "2",
        "--json",
        "--val-fraction",
        "0",
    ]
    first = CliRunner().invoke(app, args + ["--epochs", "1"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout[first.stdout.index("{") :])["steps"] == 2
    second = CliRunner().invoke(app, args + ["--epochs", "2"])
    summary = json.loads(second.stdout[second.stdout.index("{") :])
    assert summary["steps"] == 4 and summary["resumed_from"].endswith("state_e00001_s00000002.pt")
    assert (ws / "adapters" / "voice.safetensors").is_file()
    assert "epochs: 2" in (ws / "rvclora.yaml").read_text()  # flags are stored in the workspace settings
