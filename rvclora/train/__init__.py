"""Training: a workspace's clips and features → an adapter (or a full RVC model with ``--full``).

``workflow`` is the stage on a workspace; ``loop`` the training run on plain inputs (``options``).

Calling the package runs the stage: ``rvclora.train(TrainRequest(...))`` → :class:`TrainSummary` (see docs/api.md).
"""

from __future__ import annotations

from rvclora._stage_package import make_callable

make_callable(__name__, "rvclora.train.workflow:run_train")
