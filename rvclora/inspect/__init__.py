"""The inspect stage: say what a model, adapter, content encoder, pitch model or index file is (``stage``).

Calling the package runs the stage: ``rvclora.inspect(InspectRequest(...))`` → :class:`FileDescription`
(see docs/api.md).
"""

from __future__ import annotations

from rvclora._stage_package import make_callable

make_callable(__name__, "rvclora.inspect.stage:run_inspect")
