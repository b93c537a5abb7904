"""Feature stage: audio clips → content features (HuBERT/ContentVec), F0, and the retrieval index.

Submodules are imported on use (they need torch/faiss); this package itself imports nothing heavy.
"""
