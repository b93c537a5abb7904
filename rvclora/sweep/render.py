"""Held-out clips through a trained variant, from their own content features and F0 (as RVC's training
validation renders), with a fixed prior sample so every variant gets the same noise."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from rvclora.train.data import Item

if TYPE_CHECKING:
    from rvclora.models.synthesizer import Synthesizer

RENDER_SEED = 1234  # the prior noise: identical for every variant


def load_variant(kind: str, output: Path, base: Path) -> Synthesizer:
    """The synthesizer a variant produced: RVC's model for ``full``, else the base with the adapter attached."""
    from rvclora.lora.adapter import load_lora
    from rvclora.models.checkpoint import load_synthesizer

    if kind == "full":
        return load_synthesizer(output)
    net = load_synthesizer(base)
    load_lora(net, output)
    return net.eval()


def render(net: Synthesizer, item: Item, device: torch.device) -> np.ndarray:
    """One clip converted with ``net`` (float32 waveform at the model rate)."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(RENDER_SEED)
        args = (
            item.phone[None].to(device),
            torch.tensor([item.frames], device=device),
            torch.tensor([item.speaker], device=device),
        )
        if item.pitch is not None and item.pitchf is not None:
            audio = net.run_infer(*args, pitch=item.pitch[None].to(device), nsff0=item.pitchf[None].to(device))[0]
        else:
            audio = net.run_infer(*args)[0]
    return audio[0, 0].float().cpu().numpy()


def write_wavs(folder: Path, named: Sequence[tuple[str, np.ndarray]], sr: int) -> list[Path]:
    """Write each waveform as ``folder/<name>.wav`` (temporary file, then rename)."""
    import soundfile as sf

    from rvclora.fileio import atomic_write

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, wav in named:
        path = folder / f"{name}.wav"
        with atomic_write(path) as tmp:
            sf.write(tmp, np.clip(wav, -1.0, 1.0), sr, subtype="FLOAT")
        paths.append(path)
    return paths
