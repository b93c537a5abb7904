"""Ctrl-C during training: it stops on a step boundary, saves that step's checkpoint and adapter, says how to
resume, and the resumed run reports every epoch in full."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from helpers_train import make_dataset, make_job


def _adapter(path: Path) -> dict[str, torch.Tensor]:
    from rvclora.lora.adapter import read_adapter

    return read_adapter(path)[0]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_interrupt_from_a_callback_saves_the_last_step_and_resumes_whole_epochs(
    tmp_path: Path, reference_dir: Path
) -> None:
    from rvclora.train.interrupt import TrainingInterrupted
    from rvclora.train.loop import run_training
    from rvclora.train.progress import TrainProgress

    cut, ref = tmp_path / "cut", tmp_path / "ref"
    for root in (cut, ref):
        make_dataset(root, n_clips=5)  # 3 steps per epoch at batch 2

    class Stop(TrainProgress):
        def estimate(self, _estimate: object) -> None:  # told after step 4 (1 warm-up + 3 timed steps): "Ctrl-C"
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as info:
        run_training(make_job(cut, reference_dir, epochs=2, seed=5, save_every=10), Stop())
    assert (info.value.step, info.value.saved) == (4, True)
    assert info.value.message() == "interrupted at step 4; run the same command to resume"
    adapter = cut / "adapters" / "voice.safetensors"
    assert [p.name for p in (cut / "checkpoints").glob("state_*.pt")] == ["state_e00002_s00000004.pt"]
    reference = run_training(make_job(ref, reference_dir, epochs=2, seed=5, save_every=10, max_steps=4))
    _same(_adapter(adapter), _adapter(reference.output))  # the adapter of step 4, exactly

    resumed = run_training(make_job(cut, reference_dir, epochs=2, seed=5, save_every=10))
    assert resumed.steps == 6 and resumed.resumed_from is not None
    assert [(h["epoch"], h["steps"]) for h in resumed.history] == [(1, 3), (2, 3)]  # epoch 2 is not cut short


@pytest.mark.slow
def test_sigint_inside_a_step_lets_it_finish_then_stops(
    tmp_path: Path, reference_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rvclora.train.loop as loop
    from rvclora.train.interrupt import TrainingInterrupted
    from rvclora.train.progress import TrainProgress

    make_dataset(tmp_path, n_clips=5)
    real, calls = loop.train_step, {"n": 0}

    def step_with_ctrl_c(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # arrives while step 2 runs
        return real(*args, **kwargs)

    class Told(TrainProgress):
        def stopping(self) -> None:  # the user is told the run stops once the step has finished
            told.append(calls["n"])

    told: list[int] = []
    monkeypatch.setattr(loop, "train_step", step_with_ctrl_c)
    with pytest.raises(TrainingInterrupted) as info:
        loop.run_training(make_job(tmp_path, reference_dir, epochs=2, seed=5, save_every=10), Told())
    assert calls["n"] == 2 and (info.value.step, info.value.saved) == (2, True) and told == [2]
    from rvclora.lora.adapter import read_adapter

    meta = read_adapter(tmp_path / "adapters" / "voice.safetensors")[1]
    assert meta.info["training"]["steps"] == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back


def test_the_command_says_how_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import rvclora.train.workflow as workflow
    from rvclora.cli import main
    from rvclora.train.interrupt import TrainingInterrupted

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise TrainingInterrupted(17, True, 17)

    monkeypatch.setattr(workflow, "train_workspace", interrupted)
    with pytest.raises(SystemExit) as info:
        main(["train", str(tmp_path / "voice")])
    assert info.value.code == 130
    assert "interrupted at step 17; run the same command to resume" in capsys.readouterr().err
    lost = TrainingInterrupted(17, False, 12)
    assert lost.message() == (
        "interrupted during step 18; run the same command to resume from the last checkpoint (step 12)"
    )
