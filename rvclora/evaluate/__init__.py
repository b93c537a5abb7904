"""Objective metrics for conversions: how close a converted file is to a reference.

One module per job: ``settings`` (defaults, light), ``pairing`` (folder pairing), ``dtw`` (alignment),
``mcd`` (mel-cepstral distortion), ``spectral`` (STFT magnitudes, spectral convergence), ``f0_metrics``,
``speaker`` (optional resemblyzer embeddings), ``analysis`` (one file → features), ``compare`` (one pair →
metrics), ``stats`` (aggregates), ``report`` (table/JSON shapes) and ``plot`` (optional matplotlib figure).
Formulas and conventions: ``docs/metrics.md``.

Calling the package runs the stage: ``rvclora.evaluate(EvalRequest(...))`` → :class:`EvalSummary` (see docs/api.md).
"""

from __future__ import annotations

from rvclora._stage_package import make_callable

make_callable(__name__, "rvclora.evaluate.run:run_eval")
