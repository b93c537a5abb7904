"""Small, randomly initialised stand-ins for RVC's large assets, written in the exact upstream layouts.

The demo (and tests) need a pretrained generator (``f0G40k.pth``-style ``{"model": state_dict}`` with
``enc_q``), a discriminator (``f0D40k.pth``-style) and a content encoder (``hubert_base.pt``-style fairseq
checkpoint). Random weights keep the demo offline and redistributable; the files go through the same
loaders as real ones, so every code path is the one users run. The discriminator keeps RVC's full size,
because its loader (like RVC's) only accepts the standard architecture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rvclora.fileio import atomic_torch_save
from rvclora.models.config import SynthConfig, front_end, parse_sr, standard_config

HUBERT_CONV_LAYERS = "[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2"  # fairseq's strides, 32 channels
HUBERT_KERNELS = (10, 3, 3, 3, 3, 2, 2)


def tiny_config(version: str = "v2", sr: int | str = "40k", f0: bool = True) -> SynthConfig:
    """RVC's standard geometry for (version, rate) with tiny widths: every structural feature, ~0.3 M params."""
    rate = parse_sr(sr)
    return standard_config(version, rate, f0).replace(
        segment_size=front_end(rate, version).segment_frames,
        inter_channels=32,
        hidden_channels=32,
        filter_channels=64,
        n_heads=2,
        n_layers=2,
        upsample_initial_channel=64,
        spk_embed_dim=109,
        gin_channels=16,
    )


DEMO_D_WIDTH_DIVISOR = 32


def build_base(
    g_path: str | Path, d_path: str | Path | None, config: SynthConfig, seed: int
) -> tuple[Path, Path | None]:
    """Write a pretrained-layout G (``{"model": sd}`` with enc_q, fp32) and optionally a D (fp16) for ``config``.

    The D is RVC's multi-period discriminator with channels divided by :data:`DEMO_D_WIDTH_DIVISOR`: training
    reads its width from the file, and a full-width D (71 M parameters) would spend minutes per CPU step.
    """
    from rvclora.models.discriminator import MultiPeriodDiscriminator
    from rvclora.models.synthesizer import build_synthesizer

    torch.manual_seed(seed)
    g = build_synthesizer(config)
    atomic_torch_save({"model": g.state_dict(), "iteration": 0}, g_path)
    if d_path is None:
        return Path(g_path), None
    torch.manual_seed(seed + 1)
    d = MultiPeriodDiscriminator(config.version, width_divisor=DEMO_D_WIDTH_DIVISOR)
    atomic_torch_save({"model": {k: v.half() for k, v in d.state_dict().items()}, "iteration": 0}, d_path)
    return Path(g_path), Path(d_path)


def tiny_hubert_state(
    version: str,
    layers: int = 12,
    ffn: int = 16,
    conv_dim: int = 32,
    pos_kernel: int = 16,
    pos_groups: int = 4,
    seed: int = 0,
) -> tuple[dict, dict[str, torch.Tensor]]:
    """(cfg["model"], fp16 state_dict) of a random fairseq HuBERT whose features fit RVC ``version``.

    v2 reads the 768-wide transformer output, so the width is 768; v1 reads ``final_proj`` (256).
    Twelve layers because RVC reads layer 12 (v2) / 9 (v1); the FFN is tiny to keep it fast.
    """
    g = torch.Generator().manual_seed(seed)
    embed = 768 if version == "v2" else 32
    final_dim = 256

    def rnd(*shape: int, scale: float | None = None) -> torch.Tensor:
        fan_in = shape[1] * (shape[2] if len(shape) > 2 else 1) if len(shape) > 1 else shape[0]
        return (torch.randn(*shape, generator=g) * (scale if scale is not None else fan_in**-0.5)).half()

    def ones(n: int) -> torch.Tensor:
        return torch.ones(n, dtype=torch.float16)

    def zeros(n: int) -> torch.Tensor:
        return torch.zeros(n, dtype=torch.float16)

    sd: dict[str, torch.Tensor] = {}
    in_ch = 1
    for i, k in enumerate(HUBERT_KERNELS):
        sd[f"feature_extractor.conv_layers.{i}.0.weight"] = rnd(conv_dim, in_ch, k)
        in_ch = conv_dim
    sd["feature_extractor.conv_layers.0.2.weight"] = ones(conv_dim)
    sd["feature_extractor.conv_layers.0.2.bias"] = zeros(conv_dim)
    sd["layer_norm.weight"], sd["layer_norm.bias"] = ones(conv_dim), zeros(conv_dim)
    if conv_dim != embed:
        sd["post_extract_proj.weight"] = rnd(embed, conv_dim)
        sd["post_extract_proj.bias"] = rnd(embed, scale=0.01)
    sd["encoder.pos_conv.0.weight_v"] = rnd(embed, embed // pos_groups, pos_kernel)
    sd["encoder.pos_conv.0.weight_g"] = torch.ones((1, 1, pos_kernel), dtype=torch.float16)
    sd["encoder.pos_conv.0.bias"] = rnd(embed, scale=0.01)
    sd["encoder.layer_norm.weight"], sd["encoder.layer_norm.bias"] = ones(embed), zeros(embed)
    for n in range(layers):
        p = f"encoder.layers.{n}."
        for proj in ("q", "k", "v", "out"):
            sd[f"{p}self_attn.{proj}_proj.weight"] = rnd(embed, embed)
            sd[f"{p}self_attn.{proj}_proj.bias"] = rnd(embed, scale=0.01)
        sd[f"{p}fc1.weight"], sd[f"{p}fc1.bias"] = rnd(ffn, embed), rnd(ffn, scale=0.01)
        sd[f"{p}fc2.weight"], sd[f"{p}fc2.bias"] = rnd(embed, ffn), rnd(embed, scale=0.01)
        for ln in ("self_attn_layer_norm", "final_layer_norm"):
            sd[f"{p}{ln}.weight"], sd[f"{p}{ln}.bias"] = ones(embed), zeros(embed)
    sd["final_proj.weight"] = rnd(final_dim, embed)
    sd["final_proj.bias"] = rnd(final_dim, scale=0.01)
    cfg_model = {
        "_name": "hubert",
        "extractor_mode": "default",
        "encoder_layers": layers,
        "encoder_embed_dim": embed,
        "encoder_ffn_embed_dim": ffn,
        "encoder_attention_heads": 2,
        "activation_fn": "gelu",
        "layer_type": "transformer",
        "final_dim": final_dim,
        "layer_norm_first": False,
        "conv_feature_layers": HUBERT_CONV_LAYERS.replace("32", str(conv_dim)),
        "conv_bias": False,
        "conv_pos": pos_kernel,
        "conv_pos_groups": pos_groups,
    }
    return cfg_model, sd


def build_tiny_hubert(path: str | Path, version: str = "v2", **kwargs: int) -> Path:
    """Write a fairseq-layout HuBERT checkpoint (plain containers only, no fairseq objects) to ``path``."""
    cfg_model, sd = tiny_hubert_state(version, **kwargs)
    ckpt: dict[str, Any] = {
        "args": None,
        "cfg": {"model": cfg_model, "task": {"_name": "hubert_pretraining", "normalize": False, "sample_rate": 16000}},
        "model": sd,
        "criterion": None,
        "optimizer_history": [],
        "task_state": {},
        "extra_state": {},
    }
    atomic_torch_save(ckpt, path)
    return Path(path)
