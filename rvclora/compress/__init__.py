"""The compress stage: an RVC voice model (or an adapter) → a small adapter, with measured fidelity.

``factor`` maps ΔW to the matrix a LoRA layer factors and truncates its SVD; ``difference`` splits a voice
into low-rank layer changes and small tensors stored whole; ``probe`` renders both models on one fixed input
and measures their agreement; ``ranks`` picks per-layer ranks; ``stage`` ties it together for the CLI.
"""
