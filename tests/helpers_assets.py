"""Tiny stand-ins for the large assets RVC needs, built on the fly for tests (and the demo/training tests).

``build_tiny_hubert`` writes a HuBERT checkpoint in fairseq's layout (the ``cfg``/``model`` dict of RVC's
``hubert_base.pt``) with random weights and the output widths the fixture synthesizers expect: 768 for v2
(the transformer width) or a 256-wide ``final_proj`` for v1. ``voice_like`` makes a short pitched signal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

CONV_LAYERS = "[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2"
KERNELS = (10, 3, 3, 3, 3, 2, 2)


def tiny_hubert_state(version: str, layers: int = 12, ffn: int = 16, conv_dim: int = 32,
                      pos_kernel: int = 16, pos_groups: int = 4, seed: int = 0) -> tuple[dict, dict]:
    """Return (cfg["model"], state_dict) of a random fairseq HuBERT whose features fit RVC ``version``."""
    g = torch.Generator().manual_seed(seed)
    embed = 768 if version == "v2" else 32
    final_dim = 256

    def rnd(*shape: int, scale: float | None = None) -> torch.Tensor:
        fan_in = shape[1] * (shape[2] if len(shape) > 2 else 1) if len(shape) > 1 else shape[0]
        s = scale if scale is not None else fan_in**-0.5
        return (torch.randn(*shape, generator=g) * s).to(torch.float16)

    sd: dict[str, torch.Tensor] = {}
    in_ch = 1
    for i, k in enumerate(KERNELS):
        sd[f"feature_extractor.conv_layers.{i}.0.weight"] = rnd(conv_dim, in_ch, k)
        in_ch = conv_dim
    sd["feature_extractor.conv_layers.0.2.weight"] = torch.ones(conv_dim, dtype=torch.float16)
    sd["feature_extractor.conv_layers.0.2.bias"] = torch.zeros(conv_dim, dtype=torch.float16)
    sd["layer_norm.weight"] = torch.ones(conv_dim, dtype=torch.float16)
    sd["layer_norm.bias"] = torch.zeros(conv_dim, dtype=torch.float16)
    if conv_dim != embed:
        sd["post_extract_proj.weight"] = rnd(embed, conv_dim)
        sd["post_extract_proj.bias"] = rnd(embed, scale=0.01)
    sd["encoder.pos_conv.0.weight_v"] = rnd(embed, embed // pos_groups, pos_kernel)
    sd["encoder.pos_conv.0.weight_g"] = torch.full((1, 1, pos_kernel), 1.0, dtype=torch.float16)
    sd["encoder.pos_conv.0.bias"] = rnd(embed, scale=0.01)
    sd["encoder.layer_norm.weight"] = torch.ones(embed, dtype=torch.float16)
    sd["encoder.layer_norm.bias"] = torch.zeros(embed, dtype=torch.float16)
    for n in range(layers):
        p = f"encoder.layers.{n}."
        for proj in ("q", "k", "v", "out"):
            sd[f"{p}self_attn.{proj}_proj.weight"] = rnd(embed, embed)
            sd[f"{p}self_attn.{proj}_proj.bias"] = rnd(embed, scale=0.01)
        sd[f"{p}fc1.weight"] = rnd(ffn, embed)
        sd[f"{p}fc1.bias"] = rnd(ffn, scale=0.01)
        sd[f"{p}fc2.weight"] = rnd(embed, ffn)
        sd[f"{p}fc2.bias"] = rnd(embed, scale=0.01)
        for ln in ("self_attn_layer_norm", "final_layer_norm"):
            sd[f"{p}{ln}.weight"] = torch.ones(embed, dtype=torch.float16)
            sd[f"{p}{ln}.bias"] = torch.zeros(embed, dtype=torch.float16)
    sd["final_proj.weight"] = rnd(final_dim, embed)
    sd["final_proj.bias"] = rnd(final_dim, scale=0.01)
    cfg_model = {
        "_name": "hubert", "extractor_mode": "default", "encoder_layers": layers, "encoder_embed_dim": embed,
        "encoder_ffn_embed_dim": ffn, "encoder_attention_heads": 2, "activation_fn": "gelu",
        "layer_type": "transformer", "final_dim": final_dim, "layer_norm_first": False,
        "conv_feature_layers": CONV_LAYERS.replace("32", str(conv_dim)), "conv_bias": False,
        "conv_pos": pos_kernel, "conv_pos_groups": pos_groups,
    }
    return cfg_model, sd


def build_tiny_hubert(path: str | Path, version: str = "v2", **kwargs: int) -> Path:
    """Write a fairseq-layout HuBERT checkpoint (no fairseq objects inside) and return its path."""
    cfg_model, sd = tiny_hubert_state(version, **kwargs)
    ckpt = {
        "args": None,
        "cfg": {"model": cfg_model, "task": {"_name": "hubert_pretraining", "normalize": False, "sample_rate": 16000}},
        "model": sd, "criterion": None, "optimizer_history": [], "task_state": {}, "extra_state": {},
    }
    path = Path(path)
    torch.save(ckpt, path)
    return path


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


def build_adapter(path: str | Path, base: str | Path, seed: int = 0, targets: str = "all", rank: int = 2,
                  **info: str) -> Path:
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
    return save_lora(model, path, base=str(base), **info)


def build_workspace(folder: str | Path, hubert: str | Path, dim: int = 768, rows: int = 400, seed: int = 0) -> Path:
    """An rvclora workspace with assets set (dio pitch: fast, no weights) and a retrieval index of ``dim``."""
    from rvclora.features.index import build_index
    from rvclora.workspace import Workspace

    folder = Path(folder)
    Workspace.open(folder, create=True, overrides={"assets.hubert": str(hubert), "f0_method": "dio"})
    feats = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    (folder / "index").mkdir(exist_ok=True)
    build_index(feats, folder / "index" / f"added_IVF5_Flat_nprobe_1_test_v{1 if dim == 256 else 2}.index")
    return folder
