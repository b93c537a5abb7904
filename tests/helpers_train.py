"""Training test data: a generated dataset with the files extract would write, a TrainJob over it, its log.

The dataset is harmonic tones with fixed random content features and constant f0, and the discriminator is the
small one, so a run takes seconds on CPU (train, resume, DDP, compress and sweep tests).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

SR = 40000
BASE = "v2_40k_f0_tiny.G.pth"


def make_dataset(root: Path, n_clips: int = 6, seconds: float = 0.6, seed: int = 0) -> dict[str, Path]:
    """Clips at 40 kHz with matching 768-d features (50 Hz) and f0 (100 Hz), as extract would write them."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    dirs = {k: root / k for k in ("wav", "features", "f0")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    n = int(SR * seconds)
    t = np.arange(n) / SR
    for i in range(n_clips):
        hz = 110.0 + 25 * i
        wav = 0.3 * np.sin(2 * np.pi * hz * t) + 0.1 * np.sin(4 * np.pi * hz * t)
        sf.write(dirs["wav"] / f"c{i}.wav", wav.astype(np.float32), SR, subtype="FLOAT")
        frames16 = int(seconds * 16000) // 160 + 1
        np.save(dirs["features"] / f"c{i}.npy", rng.standard_normal(((frames16 - 1) // 2, 768)).astype(np.float32))
        np.save(dirs["f0"] / f"c{i}.npy", np.full(frames16, hz, np.float32))
    return dirs


def make_workspace_data(ws: Path, n_clips: int = 3) -> Path:
    """A generated dataset placed where a workspace keeps extract's outputs (``clips/40k``, ``features``,
    ``f0``), as if preprocess and extract had run in ``ws``; returns ``ws``."""
    import shutil

    dirs = make_dataset(ws.parent / f"{ws.name}-data", n_clips=n_clips)
    (ws / "clips").mkdir(parents=True)
    shutil.move(dirs["wav"], ws / "clips" / "40k")
    shutil.move(dirs["features"], ws / "features")
    shutil.move(dirs["f0"], ws / "f0")
    return ws


def make_job(root: Path, reference_dir: Path, **train: object):
    """A TrainJob over ``root``'s dataset with the schema defaults, small D and the given train overrides."""
    from rvclora.lora.config import LoRAConfig
    from rvclora.train.data import find_clips
    from rvclora.train.options import TrainJob, TrainOptions
    from rvclora.workspace.schema import defaults

    settings = {k.split(".", 1)[1]: v for k, v in defaults().items() if k.startswith("train.")}
    settings.update(epochs=2, batch_size=2, save_every=1, val_fraction=0.0, log_every=1, lr=2e-3)
    settings.update(train)
    clips = find_clips(root / "wav", root / "features", root / "f0")
    return TrainJob(
        "voice",
        reference_dir / BASE,
        None,
        clips,
        root / "adapters",
        root / "checkpoints",
        root / "logs",
        LoRAConfig(rank=4, alpha=4.0, targets="decoder+flow"),
        TrainOptions.from_settings(settings, "cpu"),
        "v2",
        SR,
        True,
        discriminator={"periods": (2, 3), "width_divisor": 128},
    )


def steps_of(root: Path) -> list[dict]:
    from rvclora.train.logs import read_jsonl

    return [r for r in read_jsonl(root / "logs" / "train.jsonl") if "event" not in r]


FRAMES, B = 60, 3  # random_batch: frames of the longest item, items


def random_batch(fe, content_dim: int):
    """A seeded batch of B=3 items of at most FRAMES frames (unequal lengths) for ``fe``'s rates."""
    from rvclora.train.data import Batch

    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([FRAMES, FRAMES - 7, FRAMES - 20])
    return Batch(
        torch.randn(B, FRAMES, content_dim, generator=g),
        lengths,
        torch.randint(1, 255, (B, FRAMES), generator=g),
        100 + 100 * torch.rand(B, FRAMES, generator=g),
        torch.rand(B, fe.fe.spec_channels, FRAMES, generator=g),
        0.1 * torch.randn(B, 1, FRAMES * fe.hop, generator=g),
        torch.zeros(B, dtype=torch.long),
    )
