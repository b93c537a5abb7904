"""Ctrl-C during training: stop on a step boundary, so what is saved is exactly the last finished step.

A step updates the discriminator, then the generator, then the counters; a KeyboardInterrupt in between would
leave them out of step with each other. While a step runs, the first Ctrl-C (SIGINT) is therefore held until
the step has finished; a second one stops at once, and that unfinished step is then not saved.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C. ``saved``: the adapter and checkpoint of step ``step`` were written;
    otherwise the run resumes from the last checkpoint, ``resume_step``."""

    def __init__(self, step: int, saved: bool, resume_step: int) -> None:
        super().__init__(f"interrupted at step {step}")
        self.step, self.saved, self.resume_step = step, saved, resume_step

    def message(self) -> str:
        if self.saved or self.step == self.resume_step:
            return f"interrupted at step {self.step}; run the same command to resume"
        return (
            f"interrupted during step {self.step + 1}; run the same command to resume from the last checkpoint "
            f"(step {self.resume_step})"
        )


class StepGuard:
    """Holds a Ctrl-C that arrives between :meth:`start` and :meth:`finish` (only in the main thread, where Python
    delivers signals; elsewhere, and when SIGINT is ignored, it changes nothing). ``on_hold`` is called when a
    Ctrl-C is held, so that the user can be told the run stops after this step."""

    def __init__(self, on_hold: Callable[[], None] | None = None) -> None:
        self.in_step = False
        self.requested = False
        self.on_hold = on_hold

    @contextlib.contextmanager
    def installed(self) -> Iterator[StepGuard]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.getsignal(signal.SIGINT)
        if previous is signal.SIG_IGN:
            yield self
            return
        signal.signal(signal.SIGINT, self._on_sigint)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)

    def _on_sigint(self, _signum: int, _frame: FrameType | None) -> None:
        if self.in_step and not self.requested:
            self.requested = True
            if self.on_hold is not None:
                self.on_hold()
            return
        raise KeyboardInterrupt

    def start(self) -> None:
        self.in_step = True

    def finish(self) -> bool:
        """The step and its bookkeeping are done; returns whether a Ctrl-C was held during it."""
        self.in_step = False
        return self.requested
