"""The compress stage: an RVC voice model (or an adapter) → a small adapter, with measured fidelity.

``factor`` maps ΔW to the matrix a LoRA layer factors and truncates its SVD; ``difference`` splits a voice
into low-rank layer changes and small tensors stored whole; ``probe`` renders both models on one fixed input
and measures their agreement; ``ranks`` picks per-layer ranks; ``stage`` ties it together for the CLI.

Calling the package runs the stage: ``rvclora.compress(CompressRequest(...))`` → :class:`CompressSummary`
(see docs/api.md).
"""

from __future__ import annotations

from rvclora._stage_package import make_callable

make_callable(__name__, "rvclora.compress.stage:run_compress")
