"""Objective metrics for conversions: how close a converted file is to a reference.

One module per job: ``settings`` (defaults, light), ``pairing`` (folder pairing), ``dtw`` (alignment),
``mcd`` (mel-cepstral distortion), ``spectral`` (STFT magnitudes, spectral convergence), ``f0_metrics``,
``speaker`` (optional resemblyzer embeddings), ``analysis`` (one file → features), ``compare`` (one pair →
metrics), ``stats`` (aggregates), ``report`` (table/JSON shapes) and ``plot`` (optional matplotlib figure).
Formulas and conventions: ``docs/metrics.md``.
"""
