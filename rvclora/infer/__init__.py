"""Voice conversion with RVC's inference pipeline (rvc-interop.md §8), for one base and any adapters.

Rooms: ``dsp`` (filters and loudness), ``chunking`` (where long inputs are cut), ``pipeline`` (the per-chunk
math shared by all voices), ``voices`` (loading a base, an adapter or a blend), ``assets`` (finding HuBERT,
RMVPE and the index), ``converter`` (the Python API), ``batch`` (files, folders and pipes for the CLI).
"""
