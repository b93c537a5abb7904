"""The merge stage: base + adapters -> a standard RVC model, or one blended adapter (``stage``)."""
