"""`rvclora train` from raw recordings to an adapter, through the real CLI (preprocess + extract run by train)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers_assets import build_tiny_hubert, voice_like


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rvclora", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_train_from_raw_audio_to_adapter(reference_dir: Path, tmp_path: Path) -> None:
    from rvclora.lora.adapter import read_adapter
    from rvclora.lora.fingerprint import base_fingerprint
    from rvclora.models.checkpoint import load_synthesizer
    from rvclora.models.discriminator import MultiPeriodDiscriminator
    from rvclora.train.logs import read_jsonl

    raw = tmp_path / "recordings"
    raw.mkdir()
    for i, f0 in enumerate((140.0, 180.0, 220.0)):
        wav = voice_like(4.0, sr=40000, f0=f0, seed=i, pause=True)
        sf.write(raw / f"take{i}.wav", wav, 40000)
    base = reference_dir / "v2_40k_f0_tiny.G.pth"
    base_d = tmp_path / "D.pth"  # a narrow D file: same architecture, channels / 128 (CPU-friendly)
    torch.manual_seed(0)
    torch.save({"model": MultiPeriodDiscriminator("v2", width_divisor=128).state_dict()}, base_d)
    hubert = build_tiny_hubert(tmp_path / "hubert.pt", "v2")
    ws = tmp_path / "voice"

    res = _cli(
        "train",
        str(ws),
        "--input",
        str(raw),
        "--base",
        str(base),
        "--base-d",
        str(base_d),
        "--hubert",
        str(hubert),
        "--f0-method",
        "dio",
        "--rank",
        "4",
        "--epochs",
        "8",
        "--batch-size",
        "2",
        "--lr",
        "0.002",
        "--seed",
        "3",
        "--json",
    )
    assert res.returncode == 0, res.stderr[-2000:]

    # preprocess and extract really ran from the raw recordings
    assert list((ws / "clips" / "40k").glob("*.wav")) and list((ws / "features").glob("*.npy"))
    assert list((ws / "f0").glob("*.npy")) and list((ws / "index").glob("*.index"))

    adapters = sorted((ws / "adapters").glob("*.safetensors"))
    assert adapters, "no adapter written"
    final = ws / "adapters" / "voice.safetensors"
    assert final.is_file()
    desc = json.loads(_cli("inspect", str(final), "--json").stdout)
    assert desc["kind"] == "rvclora-adapter" and desc["rank"] == 4
    assert desc["base_fingerprint"] == base_fingerprint(load_synthesizer(base))
    tensors, _ = read_adapter(final)
    assert all(k.endswith((".lora_A", ".lora_B")) or k.startswith("full.emb_g") for k in tensors)
    assert desc["size_bytes"] < base.stat().st_size / 2  # only the adapter, not the base

    steps = [r for r in read_jsonl(ws / "logs" / "train.jsonl") if "event" not in r and "loss_mel" in r]
    mel = np.array([r["loss_mel"] for r in steps])
    assert len(mel) >= 16
    assert mel[-4:].mean() < 0.9 * mel[:4].mean(), mel


@pytest.mark.slow
def test_train_without_a_base_is_one_line_and_leaves_no_folder(tmp_path: Path) -> None:
    res = _cli("train", str(tmp_path / "vocie"))
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "no base model configured" in res.stderr
    assert not (tmp_path / "vocie").exists()
