"""Full-size stand-ins for RVC's assets with random weights, shared by the benchmark scripts.

Speed and memory do not depend on the weights' values, so these cost what ``hubert_base.pt``, ``rmvpe.pt``,
a v2 40k base and a trained voice's index cost, with nothing to download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def full_hubert(folder: Path) -> Path:
    """A HuBERT-base-sized encoder in fairseq layout."""
    from rvclora.demo.assets import build_tiny_hubert

    return build_tiny_hubert(folder / "hubert.pt", "v2", ffn=3072, conv_dim=512, pos_kernel=128, pos_groups=16)


def full_base(folder: Path) -> Path:
    """A standard v2 40k pitch generator, saved as an RVC model."""
    from rvclora.models.checkpoint import save_rvc_model
    from rvclora.models.config import standard_config
    from rvclora.models.synthesizer import build_synthesizer

    return save_rvc_model(build_synthesizer(standard_config("v2", 40000, True)), folder / "base.pth", precision="fp32")


def full_rmvpe(folder: Path) -> Path:
    """An RMVPE of upstream's architecture, saved as upstream's bare state_dict."""
    from rvclora.features.rmvpe_net import RmvpeArch, RmvpeNet

    torch.save(RmvpeNet(RmvpeArch()).state_dict(), folder / "rmvpe.pt")
    return folder / "rmvpe.pt"


def voice_index(folder: Path, minutes: float = 10.0) -> Path:
    """RVC's IVF index over ``minutes`` of random 768-d features (a typical voice's training set)."""
    from rvclora.features.index import build_index

    path = folder / "voice.index"
    build_index(np.random.default_rng(0).standard_normal((int(minutes * 60 * 50), 768)).astype(np.float32), path)
    return path
