"""The merge stage: base + adapters -> a standard RVC model, or one blended adapter (``stage``).

Calling the package runs the stage: ``rvclora.merge(MergeRequest(...))`` → :class:`MergeSummary` (see docs/api.md).
"""

from __future__ import annotations

from rvclora._stage_package import make_callable

make_callable(__name__, "rvclora.merge.stage:run_merge")
