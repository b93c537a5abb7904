"""What a training run tells while it runs: the library reports, the command renders.

:func:`rvclora.train.loop.run_training` calls these methods on the main rank only, in this order: ``skipped``
(when short clips are left out), ``plan`` (before the first step), then ``step`` after every step, ``estimate``
once the first steps are timed, ``stopping`` when a Ctrl-C is held until the step ends, and ``ended`` always
(finished, failed or interrupted). Every method does nothing here: a caller overrides the ones it shows.
Torch-free, so a command can import it before any heavy import.
"""

from __future__ import annotations

from dataclasses import dataclass

from rvclora.train.plan import Estimate, TrainPlan


@dataclass(frozen=True)
class StepReport:
    """One finished optimizer step: its losses (``loss_mel``, ``loss_kl``, ``loss_d``, …) and throughput."""

    step: int
    epoch: int
    losses: dict[str, float]
    items_per_s: float


class TrainProgress:
    """Receives a run's progress (see the module docstring); the default ignores all of it."""

    def skipped(self, clips: int, window_ms: int) -> None:
        """``clips`` clips are shorter than one training window (``window_ms``) and are left out."""

    def plan(self, plan: TrainPlan) -> None:
        """The run ahead, before its first step (``steps_done`` of ``steps_total`` were done by earlier runs)."""

    def step(self, report: StepReport) -> None:
        """A step has finished."""

    def estimate(self, estimate: Estimate) -> None:
        """The time left, measured over the first steps (told once)."""

    def stopping(self) -> None:
        """A Ctrl-C arrived during a step: the run stops (and saves) once that step has finished."""

    def ended(self) -> None:
        """The run is over, however it ended: nothing more will be told."""
