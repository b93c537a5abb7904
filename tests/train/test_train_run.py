"""The training run's parts one at a time: RunState (where a run stands), the named steps of TrainingRun
(resume, epoch, end of epoch, checkpoint, Ctrl-C) on the tiny v2-40k fixture, and how the commands draw a run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from helpers_train import make_dataset, make_job

LOSSES = {"loss_g": 9.0, "loss_d": 1.0, "loss_mel": 4.0}


def test_run_state_round_trips_and_reads_checkpoints_without_epoch_totals() -> None:
    from rvclora.train.state import RunState

    state = RunState(epoch=3, batch=1, step=7, best_val=0.5, bad_epochs=1, history=[{"epoch": 1}])
    state.count_step(1, LOSSES, 0.25)
    assert RunState.from_dict(state.to_dict()) == state
    older = {"epoch": 2, "batch": 0, "step": 6, "best_val": None, "bad_epochs": 0, "history": [], "later": 1}
    resumed = RunState.from_dict(older)  # written before the epoch totals were kept; unknown keys are left
    assert (resumed.epoch, resumed.step, resumed.epoch_sums, resumed.epoch_steps) == (2, 6, {}, 0)


def test_run_state_counts_steps_and_epochs() -> None:
    from rvclora.train.state import RunState

    state = RunState()
    assert state.latest_epoch == 0
    state.begin_epoch()
    state.count_step(0, LOSSES, 1.0)
    state.count_step(1, {**LOSSES, "loss_mel": 2.0}, 0.5)
    assert (state.step, state.batch, state.epoch_steps, state.latest_epoch) == (2, 2, 2, 1)
    record = state.epoch_record(lr=1e-3)
    assert record == {
        "event": "epoch",
        "epoch": 1,
        "step": 2,
        "steps": 2,
        "seconds": 1.5,
        "lr": 1e-3,
        "loss_g": 9.0,
        "loss_d": 1.0,
        "loss_mel": 3.0,
    }
    state.begin_epoch()  # resuming in the middle of an epoch keeps its totals
    assert state.epoch_steps == 2
    state.next_epoch()
    assert (state.epoch, state.batch, state.epoch_steps, state.epoch_sums, state.latest_epoch) == (2, 0, 0, {}, 1)


def test_early_stopping_waits_for_patience_epochs_without_a_new_best() -> None:
    from rvclora.train.state import RunState

    state = RunState()
    assert [state.judge(v, patience=2) for v in (5.0, 4.0, 4.5, 4.0, 3.0, 3.5, 3.1)] == [
        False,
        False,
        False,
        True,  # 4.0 does not beat 4.0: the second epoch in a row without a new best
        False,
        False,
        True,
    ]
    assert (state.best_val, state.bad_epochs) == (3.0, 2)
    never = RunState()
    assert not any(never.judge(v, patience=0) for v in (1.0, 2.0, 3.0, 4.0))


@pytest.fixture()
def run_parts(tmp_path: Path, reference_dir: Path):
    """A dataset of 5 clips (3 steps per epoch at batch 2) and a maker of runs over it."""
    from rvclora.train.loop import TrainingRun

    make_dataset(tmp_path, n_clips=5)

    def start(**train: object) -> TrainingRun:
        run = TrainingRun(make_job(tmp_path, reference_dir, seed=4, **train))
        run.resume()
        run.open_logs()
        run.announce()
        return run

    return tmp_path, start


@pytest.mark.slow
def test_an_epoch_then_its_end_steps_the_schedule_and_saves_every_n_epochs(run_parts) -> None:
    root, start = run_parts
    run = start(epochs=3, save_every=1)
    try:
        with run.guarded():
            assert run.run_epoch() == (0, 3, 3)  # from batch 0, 3 batches, of 3
            assert (run.state.step, run.state.batch, run.state.epoch) == (3, 3, 1)
            assert run.end_epoch(3, "finished") == "finished"
    finally:
        run.close()
    assert (run.state.epoch, run.state.batch, len(run.state.history)) == (2, 0, 1)
    assert run.state.history[0]["steps"] == 3 and math.isfinite(run.state.history[0]["loss_mel"])
    lr = run.opts.lr
    assert run.optim.opt_g.param_groups[0]["lr"] == pytest.approx(lr * run.opts.lr_decay)
    assert [p.name for p in (root / "checkpoints").glob("state_*.pt")] == ["state_e00001_s00000003.pt"]
    assert [p.name for p in (root / "adapters").iterdir()] == ["voice_e1_s3.safetensors"]


@pytest.mark.slow
def test_a_step_budget_inside_an_epoch_stops_there_and_checkpoints(run_parts) -> None:
    root, start = run_parts
    run = start(epochs=3, max_steps=2, save_every=10)
    try:
        with run.guarded():
            done = run.run_epoch()
            assert done == (0, 2, 3) and done.cut_short
            assert run.end_epoch(3, "max_steps") == "max_steps"
    finally:
        run.close()
    assert (run.state.epoch, run.state.batch) == (1, 2)  # the epoch is not over: no schedule step
    assert run.optim.opt_g.param_groups[0]["lr"] == run.opts.lr
    assert [p.name for p in (root / "checkpoints").glob("state_*.pt")] == ["state_e00001_s00000002.pt"]
    assert not (root / "adapters").exists()  # the final adapter is written by run_training's finish


@pytest.mark.slow
def test_a_validation_without_a_new_best_stops_early(run_parts) -> None:
    root, start = run_parts
    run = start(epochs=3, val_fraction=0.2, early_stopping_patience=1)  # 4 training clips: 2 steps per epoch
    run.state.best_val = -1.0  # no mel loss beats it
    try:
        with run.guarded():
            assert run.run_epoch() == (0, 2, 2)
            assert run.end_epoch(2, "finished") == "early_stopping"
    finally:
        run.close()
    assert run.state.bad_epochs == 1 and "val_mel" in run.state.history[0]
    assert [p.name for p in (root / "checkpoints").glob("state_*.pt")] == ["state_e00001_s00000002.pt"]


@pytest.mark.slow
def test_resume_restores_what_the_checkpoint_saved(run_parts) -> None:
    from rvclora.train.state import RunState

    _, start = run_parts
    run = start(epochs=3)
    try:
        with run.guarded():
            run.run_epoch()
        path = run.checkpoint()
        trainable = {n: p.detach().clone() for n, p in run.net.named_parameters() if p.requires_grad}
    finally:
        run.close()
    assert path.name == "state_e00001_s00000003.pt" and run.saved_step == 3

    again = start(epochs=3)
    again.close()
    assert again.resumed_from == path == again.last_good and again.saved_step == 3
    assert again.state == run.state and isinstance(again.state, RunState)
    resumed = dict(again.net.named_parameters())
    assert all(torch.equal(resumed[n], t) for n, t in trainable.items())
    assert again.optim.opt_g.state_dict()["state"].keys() == run.optim.opt_g.state_dict()["state"].keys()
    assert torch.equal(again.slice_gen.get_state(), run.slice_gen.get_state())


@pytest.mark.slow
def test_ctrl_c_saves_the_last_whole_step_but_never_a_cut_one(run_parts) -> None:
    root, start = run_parts
    run = start(epochs=3)
    try:
        with run.guarded():
            run.run_epoch()
            run.guard.start()  # as if the Ctrl-C came between the D and the G update of step 4
            cut = run.interrupted()
            run.guard.finish()
            assert (cut.step, cut.saved, cut.resume_step) == (3, False, 0)
            assert not list((root / "checkpoints").glob("state_*.pt"))
            whole = run.interrupted()
    finally:
        run.close()
    assert (whole.step, whole.saved, whole.resume_step) == (3, True, 3)
    assert whole.message() == "interrupted at step 3; run the same command to resume"
    assert [p.name for p in (root / "checkpoints").glob("state_*.pt")] == ["state_e00001_s00000003.pt"]
    assert (root / "adapters" / "voice.safetensors").is_file()


def test_the_commands_draw_a_run_as_train_always_has(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a terminal (as here): plain lines, the same text the loop printed itself before it reported."""
    from rvclora.commands._train_progress import TrainDisplay
    from rvclora.train.plan import Estimate, TrainPlan
    from rvclora.train.progress import StepReport

    plan = TrainPlan(4, 0, 2, 2, 3, 1, 2.0, None, "lora", "fp32", "cpu", True, ["the workspace holds 2 s"])
    display = TrainDisplay()
    display.skipped(1, 320)
    display.plan(plan)
    display.step(StepReport(1, 1, {"loss_mel": 248.414, "loss_kl": 246.68, "loss_d": 1.39}, 0.2))
    display.estimate(Estimate(0.0, 7.92, 3))
    display.stopping()
    display.ended()
    lines = capsys.readouterr().err.splitlines()
    assert lines[:4] == [
        "skipping 1 clip(s) shorter than one training window (320 ms)",
        "starting: 3 clips (1 held out), 2 steps/epoch, lora, fp32 on cpu; fresh discriminator (no base D given)",
        "training 4 steps (4 in all; 2 per epoch, 2 epochs at most) on 2 s of audio",
        "warning: the workspace holds 2 s",
    ]
    assert lines[4].startswith("train: 1/4 (25%) | ")
    assert lines[4].endswith(" | e1 mel 248.41 kl 246.68 d 1.39 | 0.2 items/s")
    assert lines[5:] == [
        "estimated time left: about 0 s (7.92 s per step over 3 timed steps; validation and checkpoints add to it)",
        "stopping after this step (Ctrl-C again stops at once; this step is then lost)",
    ]

    resumed = TrainPlan(6, 6, 2, 3, 3, 1, 2.0, Path("/c/state_e00003_s00000006.pt"), "lora", "fp32", "cpu", True)
    quiet = TrainDisplay(details=False)  # demo and sweep: no plan, no estimate
    quiet.plan(resumed)
    quiet.estimate(Estimate(1.0, 1.0, 3))
    quiet.ended()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "resuming from state_e00003_s00000006.pt: 3 clips (1 held out), 2 steps/epoch, lora, fp32 on cpu"
    assert len(lines) == 2 and lines[1].startswith("train: 6/6 (100%)")
