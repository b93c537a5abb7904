"""How a training run looks on stderr, for every command that trains (train, demo, sweep).

The loop reports through :class:`~rvclora.train.progress.TrainProgress`; this draws it: the line that says how
the run starts, the plan and the time estimate (``rvclora train`` only), the progress bar (a live bar on a
terminal, plain lines otherwise: :func:`rvclora.console.progress`), and the Ctrl-C notice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rvclora.train.progress import TrainProgress

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from rvclora.train.plan import Estimate, TrainPlan
    from rvclora.train.progress import StepReport


class TrainDisplay(TrainProgress):
    """Draws one training run at a time; ``details`` adds the plan (steps, audio, warnings) and the estimate."""

    def __init__(self, details: bool = True) -> None:
        self.details = details
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def skipped(self, clips: int, window_ms: int) -> None:
        from rvclora.console import err

        err.print(f"[yellow]skipping {clips} clip(s) shorter than one training window ({window_ms} ms)[/yellow]")

    def plan(self, plan: TrainPlan) -> None:
        from rvclora.console import err, progress

        err.print(_start_line(plan))
        if self.details:
            _show_plan(plan)
        self._bar = progress()
        self._task = self._bar.add_task("train", total=plan.steps_total, completed=plan.steps_done, status="")
        self._bar.start()

    def step(self, report: StepReport) -> None:
        if self._bar is None or self._task is None:
            return
        losses = report.losses
        self._bar.update(
            self._task,
            advance=1,
            status=f"e{report.epoch} mel {losses['loss_mel']:.2f} kl {losses['loss_kl']:.2f}"
            f" d {losses['loss_d']:.2f} | {report.items_per_s:.1f} items/s",
        )

    def estimate(self, estimate: Estimate) -> None:
        if not self.details:
            return
        from rvclora.console import err
        from rvclora.train.plan import format_duration

        err.print(
            f"estimated time left: about {format_duration(estimate.seconds)} ({estimate.seconds_per_step:.2f} s per "
            f"step over {estimate.timed_steps} timed steps; validation and checkpoints add to it)"
        )

    def stopping(self) -> None:
        from rvclora.console import err

        err.print("[yellow]stopping after this step (Ctrl-C again stops at once; this step is then lost)[/yellow]")

    def ended(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        self._bar = self._task = None


def _start_line(plan: TrainPlan) -> str:
    """``starting: 3 clips (1 held out), 2 steps/epoch, lora, fp32 on cpu; fresh discriminator (…)``."""
    how = f"resuming from {plan.resumed_from.name}" if plan.resumed_from else "starting"
    fresh = plan.fresh_discriminator and plan.resumed_from is None
    d_note = "; fresh discriminator (no base D given)" if fresh else ""
    return (
        f"{how}: {plan.clips} clips ({plan.held_out} held out), {plan.steps_per_epoch} steps/epoch, "
        f"{plan.mode}, {plan.precision} on {plan.device}{d_note}"
    )


def _show_plan(plan: TrainPlan) -> None:
    """Before the first step: how many steps, on how much audio, and any warning."""
    from rich.markup import escape

    from rvclora.console import err
    from rvclora.train.plan import format_duration

    resumed = f", {plan.steps_done} done before" if plan.steps_done else ""
    if plan.steps_left:
        epochs = f"{plan.epochs} epoch{'s' if plan.epochs != 1 else ''}"
        err.print(
            f"training {plan.steps_left} steps ({plan.steps_total} in all{resumed}; {plan.steps_per_epoch} "
            f"per epoch, {epochs} at most) on {format_duration(plan.audio_s)} of audio"
        )
    for warning in plan.warnings:
        err.print(f"[yellow]warning: {escape(warning)}[/yellow]")
