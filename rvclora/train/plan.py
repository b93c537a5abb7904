"""What a training run is about to do, told before its first step: the step count, the amount of audio (with a
warning when it is below the recommended minimum), and, once the first steps are timed, an honest estimate
of the duration. The loop computes these; the command renders them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

# RVC's usual advice: at least about 10 minutes of clean speech or singing (docs/training.md).
RECOMMENDED_MIN_AUDIO_S = 600.0
# Steps timed for the estimate. The first step of a run is not one of them: it pays one-time costs (memory
# pools, kernel selection, the first batch read without prefetch) that later steps do not.
ESTIMATE_STEPS = 3


@dataclass
class TrainPlan:
    """The run ahead: ``steps_total`` optimizer steps, of which ``steps_done`` were done by earlier runs, and how
    it runs (where it resumes from, mode, precision, device, and whether the discriminator starts fresh)."""

    steps_total: int
    steps_done: int
    steps_per_epoch: int
    epochs: int
    clips: int
    held_out: int
    audio_s: float  # seconds of audio in the usable clips (training and held out)
    resumed_from: Path | None  # the checkpoint this run continues; None: a new run
    mode: str  # "lora" or "full"
    precision: str  # the resolved precision: fp32, bf16 or fp16
    device: str
    fresh_discriminator: bool  # no base D given: D starts from random weights
    warnings: list[str] = field(default_factory=list)

    @property
    def steps_left(self) -> int:
        return max(self.steps_total - self.steps_done, 0)


def audio_warnings(audio_s: float) -> list[str]:
    """A warning when the clips hold less audio than :data:`RECOMMENDED_MIN_AUDIO_S`, saying how much."""
    if audio_s >= RECOMMENDED_MIN_AUDIO_S:
        return []
    return [
        f"the workspace holds {format_duration(audio_s)} of usable audio; at least "
        f"{format_duration(RECOMMENDED_MIN_AUDIO_S)} is recommended, so the adapter may sound rough or unstable "
        "(add recordings to raw/ and run train again)"
    ]


@dataclass
class Estimate:
    """The remaining time, from the measured duration of steps after the first (see :data:`ESTIMATE_STEPS`)."""

    seconds: float  # for the steps left after the timed ones
    seconds_per_step: float
    timed_steps: int


class StepTimer:
    """Times the steps of one run and produces one :class:`Estimate` once enough of them have run."""

    def __init__(self, steps_left: int) -> None:
        self.steps_left = steps_left
        self.seen = 0
        self._start: float | None = None
        self.done = False

    def step_finished(self) -> Estimate | None:
        """Call after every step; returns the estimate once (after the first + ESTIMATE_STEPS steps)."""
        self.seen += 1
        now = time.perf_counter()
        if self.seen == 1:
            self._start = now  # the clock starts after the warm-up step
            return None
        timed = self.seen - 1
        if self.done or self._start is None or timed < ESTIMATE_STEPS:
            return None
        self.done = True
        per_step = (now - self._start) / timed
        return Estimate(per_step * max(self.steps_left - self.seen, 0), per_step, timed)


def format_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 05 min`` (rounded; estimates are not precise to the second)."""
    seconds = max(float(seconds), 0.0)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
