"""``rvclora sweep``: which rank and preset does this voice need? Measured on the user's own data.

One module per job: ``variants`` (the typed options and the list of variants they name), ``holdout`` (the
seeded split by source recording), ``gain`` (the % of full fine-tuning's gain), ``render`` (held-out clips
through a trained variant), ``stage`` (the workspace run: train, render, score, resume) and ``plot``.

Calling the package runs the stage: ``rvclora.sweep(SweepRequest(...))`` → :class:`SweepSummary` (see docs/api.md).
"""

from __future__ import annotations

from rvclora._stage_package import make_callable

make_callable(__name__, "rvclora.sweep.stage:run_sweep")
