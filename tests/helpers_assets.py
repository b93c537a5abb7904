"""Tiny stand-ins for the large assets RVC needs, built on the fly for tests (and the demo/training tests).

``build_tiny_hubert`` writes a HuBERT checkpoint in fairseq's layout (the ``cfg``/``model`` dict of RVC's
``hubert_base.pt``) with random weights and the output widths the fixture synthesizers expect: 768 for v2
(the transformer width) or a 256-wide ``final_proj`` for v1. ``voice_like`` makes a short pitched signal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

from pathlib import Path

import numpy as np
import torch

# The tiny HuBERT builder ships with the demo; tests use the same one.
from rvclora.demo.assets import build_tiny_hubert, tiny_hubert_state  # noqa: F401


def voice_like(seconds: float, sr: int = 16000, f0: float = 150.0, seed: int = 0, pause: bool = False) -> np.ndarray:
    """A vowel-like harmonic tone with vibrato and a little noise (plus an optional quiet gap mid-way)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    freq = f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(freq) / sr
    wav = sum(np.sin(h * phase) / h for h in range(1, 6)) * 0.25
    wav = wav * (0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t) ** 2) + 0.003 * rng.standard_normal(t.shape)
    if pause:
        mid = len(t) // 2
        wav[mid - sr // 10 : mid + sr // 10] *= 0.01
    return wav.astype(np.float32)


def harmonic_voice(f0: float, sr: int = 16000, dur: float = 0.6, vibrato: float = 0.04, seed: int = 0) -> np.ndarray:
    """A harmonic tone (optionally with 4 Hz vibrato) over faint noise, so its envelope is defined everywhere."""
    t = np.arange(int(sr * dur)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + vibrato * np.sin(2 * np.pi * 4 * t))) / sr
    tone = sum(np.sin(k * phase) / k for k in range(1, 12))
    noise = np.random.default_rng(seed).standard_normal(len(t)) * 1e-3
    return (0.25 * tone + noise).astype(np.float32)


def build_adapter(
    path: str | Path,
    base: str | Path,
    seed: int = 0,
    targets: str = "all",
    rank: int = 2,
    unvoiced_f0: str | None = None,
    **info: str,
) -> Path:
    """Save an adapter for ``base`` with both LoRA factors non-zero (so a broken merge cannot pass)."""
    from rvclora.lora.adapter import save_lora
    from rvclora.lora.config import LoRAConfig
    from rvclora.lora.inject import add_lora, lora_layers
    from rvclora.models.checkpoint import load_synthesizer

    model = load_synthesizer(base)
    add_lora(model, LoRAConfig(rank=rank, alpha=float(rank), targets=targets))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, layer in lora_layers(model):
            layer.lora_A.copy_(torch.randn(layer.lora_A.shape, generator=g) * 0.3)
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=g) * 0.05)
        model.emb_g.weight.add_(torch.randn(model.emb_g.weight.shape, generator=g) * 0.1)
    saved = save_lora(model, path, unvoiced_f0=unvoiced_f0)
    return with_legacy_info(saved, base=str(base), **info)


def with_legacy_info(path: Path, **info: str) -> Path:
    """Rewrite an adapter's ``info`` as adapters before portable metadata did: absolute local paths of the base
    and workspace (new adapters never store those; old ones must keep working)."""

    from rvclora.lora.adapter import META_KEY, read_adapter

    tensors, meta = read_adapter(path)
    meta.info.update(info)
    if Path(path).suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(tensors, str(path), metadata={META_KEY: meta.to_json()})
    else:
        torch.save({META_KEY: meta.to_dict(), "tensors": tensors}, path)
    return Path(path)


def build_workspace(folder: str | Path, hubert: str | Path, dim: int = 768, rows: int = 400, seed: int = 0) -> Path:
    """An rvclora workspace with assets set (dio pitch: fast, no weights) and a retrieval index of ``dim``."""
    from rvclora.features.index import build_index
    from rvclora.workspace import Workspace

    folder = Path(folder)
    Workspace.open(folder, create=True, overrides={"assets.hubert": str(hubert), "f0_method": "dio"}).save_settings()
    feats = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    (folder / "index").mkdir(exist_ok=True)
    build_index(feats, folder / "index" / f"added_IVF5_Flat_nprobe_1_test_v{1 if dim == 256 else 2}.index")
    return folder


def preprocessed_workspace(
    root: Path, recordings: dict[str, np.ndarray], rate: int, settings: dict[str, object]
) -> int:
    """Write ``recordings`` (at ``rate`` Hz) to ``root``/raw and preprocess them (dio pitch, one worker, and
    ``settings`` such as ``{"assets.hubert": ...}``) with no user config, then save the settings as a command
    would; the clip count."""
    import pytest
    import soundfile as sf
    from helpers_env import clean_env

    from rvclora.audio.preprocess import preprocess_workspace
    from rvclora.workspace import Workspace

    (root / "raw").mkdir(parents=True)
    for name, wav in recordings.items():
        sf.write(root / "raw" / f"{name}.wav", wav, rate)
    with pytest.MonkeyPatch.context() as mp:
        clean_env(mp, root.parent)
        ws = Workspace.open(root, overrides={"f0_method": "dio", "preprocess.workers": 1, **settings})
        clips = preprocess_workspace(ws).clips
        ws.save_settings()  # Workspace.open writes nothing; commands save once they succeed
    return clips


def cli_exit_code(*args: str) -> int:
    """Run ``rvclora ARGS`` in-process and return its exit code."""
    from rvclora.cli import main

    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``rvclora ARGS`` in-process: (exit code, stdout, stderr) of this command only."""
    capsys.readouterr()
    code = cli_exit_code(*args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(text: str) -> str:
    """The single non-empty line of ``text`` (fails when there are several, or a traceback)."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]
