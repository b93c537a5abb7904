"""What train tells before it starts (step count, audio amount with a warning, a measured time estimate), and
its defaults: RVC's learning rate for --full, --max-steps 0 clearing a stored limit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_train import BASE, make_dataset, make_job, make_workspace_data


@pytest.mark.slow
def test_the_plan_comes_before_the_first_step_and_the_estimate_after_timed_steps(
    tmp_path: Path, reference_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rvclora.train.loop as loop
    from rvclora.train.plan import ESTIMATE_STEPS, RECOMMENDED_MIN_AUDIO_S
    from rvclora.train.progress import TrainProgress

    make_dataset(tmp_path, n_clips=5, seconds=0.6)
    events: list[tuple[str, object]] = []
    real = loop.train_step

    def step(*args: object, **kwargs: object) -> object:
        events.append(("train_step", None))
        return real(*args, **kwargs)

    class Recorder(TrainProgress):
        def plan(self, plan: object) -> None:
            events.append(("plan", plan))

        def step(self, report: object) -> None:
            events.append(("step", report))

        def estimate(self, estimate: object) -> None:
            events.append(("estimate", estimate))

        def ended(self) -> None:
            events.append(("ended", None))

    monkeypatch.setattr(loop, "train_step", step)
    result = loop.run_training(make_job(tmp_path, reference_dir, epochs=2), Recorder())
    kinds = [k for k, _ in events]
    each = ["train_step", "step"]
    assert kinds == ["plan"] + each * (1 + ESTIMATE_STEPS) + ["estimate"] + each * 2 + ["ended"]
    plan = events[0][1]
    assert (plan.steps_total, plan.steps_done, plan.steps_per_epoch, plan.clips) == (6, 0, 3, 5)
    assert (plan.resumed_from, plan.mode, plan.precision, plan.device, plan.fresh_discriminator) == (
        None,
        "lora",
        "fp32",
        "cpu",
        True,
    )
    assert plan.audio_s == pytest.approx(5 * 0.6, abs=0.05)
    assert len(plan.warnings) == 1 and "holds 3 s of usable audio" in plan.warnings[0]
    assert f"at least {round(RECOMMENDED_MIN_AUDIO_S / 60)} min is recommended" in plan.warnings[0]
    assert result.warnings == plan.warnings and result.summary()["warnings"] == plan.warnings
    reports = [e for k, e in events if k == "step"]
    assert [(r.step, r.epoch) for r in reports] == [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 2)]
    assert all({"loss_mel", "loss_kl", "loss_d"} <= set(r.losses) and r.items_per_s > 0 for r in reports)
    assert not any(k.startswith("grad_norm") for r in reports for k in r.losses)  # norms go to the logs only
    estimate = events[kinds.index("estimate")][1]
    assert estimate.timed_steps == ESTIMATE_STEPS and estimate.seconds == pytest.approx(2 * estimate.seconds_per_step)


def test_the_estimate_leaves_out_the_warm_up_step(monkeypatch: pytest.MonkeyPatch) -> None:
    import rvclora.train.plan as plan

    clock = iter([100.0, 102.0, 104.0, 106.0, 108.0])  # the warm-up step ends at 100 s (it took 60 s), then 2 s each
    monkeypatch.setattr(plan.time, "perf_counter", lambda: next(clock))
    timer = plan.StepTimer(steps_left=104)
    got = [timer.step_finished() for _ in range(5)]
    assert got[:3] == [None, None, None] and got[4] is None
    assert got[3] == plan.Estimate(seconds=2.0 * 100, seconds_per_step=2.0, timed_steps=3)


def test_enough_audio_gives_no_warning_and_durations_read_well() -> None:
    from rvclora.train.plan import RECOMMENDED_MIN_AUDIO_S, audio_warnings, format_duration

    assert audio_warnings(RECOMMENDED_MIN_AUDIO_S) == []
    assert "holds 4 min" in audio_warnings(250)[0]
    assert [format_duration(s) for s in (12.4, 89, 600, 3599, 3600 + 5 * 60, 50 * 3600)] == [
        "12 s",
        "89 s",
        "10 min",
        "1 h 00 min",
        "1 h 05 min",
        "50 h 00 min",
    ]


@pytest.mark.parametrize(("full", "lr", "want"), [(False, None, 5e-4), (True, None, 1e-4), (True, 3e-4, 3e-4)])
def test_full_fine_tuning_defaults_to_rvcs_learning_rate(full: bool, lr: float | None, want: float) -> None:
    from rvclora.train.options import TrainOptions
    from rvclora.workspace.schema import defaults

    train = {k.split(".", 1)[1]: v for k, v in defaults().items() if k.startswith("train.")}
    assert train["lr"] is None  # unset unless the user sets it: the mode decides
    assert TrainOptions.from_settings({**train, "full": full, "lr": lr}, "cpu").lr == want


@pytest.mark.slow
def test_max_steps_0_clears_a_stored_limit(
    tmp_path: Path, reference_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    import rvclora.train.workflow as workflow
    from rvclora.cli import main
    from rvclora.workspace import Workspace

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    ws = make_workspace_data(tmp_path / "voice")
    Workspace.open(ws, overrides={"train.max_steps": 1, "assets.base": str(reference_dir / BASE)}).save_settings()
    real = workflow.run_training

    def small_d(job, *args):  # the full-width RVC D takes ~40 s per CPU step
        job.discriminator = {"periods": (2,), "width_divisor": 128}
        return real(job, *args)

    monkeypatch.setattr(workflow, "run_training", small_d)
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(
            [
                "train",
                str(ws),
                "--device",
                "cpu",
                "--batch-size",
                "2",
                "--epochs",
                "1",
                "--val-fraction",
                "0",
                "--max-steps",
                "0",
                "--json",
            ]
        )
    assert done.value.code == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["steps"] == 2  # one whole epoch: the stored limit of 1 is gone
    assert yaml.safe_load((ws / "rvclora.yaml").read_text())["train"]["max_steps"] is None
    err = " ".join(captured.err.split())
    assert "training 2 steps (2 in all; 2 per epoch, 1 epoch at most) on 2 s of audio" in err
    assert "warning: the workspace holds 2 s of usable audio" in err


@pytest.mark.slow
def test_a_step_budget_ending_on_an_epoch_boundary_is_checkpointed(tmp_path: Path, reference_dir: Path) -> None:
    """max_steps = whole epochs (the full demo's case): the run must leave a checkpoint, or the next call would
    train every step again and rewrite the adapter."""
    from rvclora.train.loop import run_training

    make_dataset(tmp_path, n_clips=5)  # 3 steps per epoch
    first = run_training(make_job(tmp_path, reference_dir, epochs=4, max_steps=3, save_every=10))
    assert (first.steps, first.stopped) == (3, "max_steps")
    assert [p.name for p in (tmp_path / "checkpoints").glob("state_*.pt")] == ["state_e00001_s00000003.pt"]
    written = first.output.stat().st_mtime_ns
    again = run_training(make_job(tmp_path, reference_dir, epochs=4, max_steps=3, save_every=10))
    assert (again.steps, again.stopped) == (3, "already_finished") and again.output == first.output
    assert first.output.stat().st_mtime_ns == written
