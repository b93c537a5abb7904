"""HuBERT checkpoints in other layouts: tensor names between fairseq and Hugging Face, the tiny fixture as HF.

Written independently of rvclora.features.hubert_load, so the loader's mapping is checked against a second one.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from rvclora.features.hubert_load import FairseqDictionary

# (fairseq prefix, Hugging Face prefix); {n} = a layer number. Names not listed are the same in both.
_PAIRS = [
    ("feature_extractor.conv_layers.{n}.0.", "feature_extractor.conv_layers.{n}.conv."),
    ("feature_extractor.conv_layers.0.2.", "feature_extractor.conv_layers.0.layer_norm."),
    ("layer_norm.", "feature_projection.layer_norm."),
    ("post_extract_proj.", "feature_projection.projection."),
    ("encoder.pos_conv.0.weight_g", "encoder.pos_conv_embed.conv.{g}"),
    ("encoder.pos_conv.0.weight_v", "encoder.pos_conv_embed.conv.{v}"),
    ("encoder.pos_conv.0.bias", "encoder.pos_conv_embed.conv.bias"),
    ("encoder.layers.{n}.self_attn.", "encoder.layers.{n}.attention."),
    ("encoder.layers.{n}.self_attn_layer_norm.", "encoder.layers.{n}.layer_norm."),
    ("encoder.layers.{n}.fc1.", "encoder.layers.{n}.feed_forward.intermediate_dense."),
    ("encoder.layers.{n}.fc2.", "encoder.layers.{n}.feed_forward.output_dense."),
]
_G_V = {
    True: ("parametrizations.weight.original0", "parametrizations.weight.original1"),
    False: ("weight_g", "weight_v"),
}


def _rename(name: str, src: str, dst: str) -> str | None:
    pattern = "^" + re.escape(src).replace(re.escape("{n}"), r"(\d+)")
    m = re.match(pattern, name)
    if not m:
        return None
    return dst.replace("{n}", m.group(1) if m.groups() else "") + name[m.end() :]


def _convert(state: dict, to_hf: bool, parametrized: bool) -> dict:
    g, v = _G_V[parametrized]
    out = {}
    for name, tensor in state.items():
        new = name
        for fs, hf in _PAIRS:
            hf = hf.replace("{g}", g).replace("{v}", v)
            renamed = _rename(name, fs, hf) if to_hf else _rename(name, hf, fs)
            if renamed is not None:
                new = renamed
                break
        out[new] = tensor
    return out


def fairseq_to_hf(state: dict, parametrized: bool = True) -> dict:
    return _convert(state, True, parametrized)


def hf_to_fairseq(state: dict, parametrized: bool = True) -> dict:
    return _convert(state, False, parametrized)


def tiny_hf_state(tiny_pt: Path, parametrized: bool) -> dict[str, torch.Tensor]:
    """The tiny fairseq fixture renamed to Hugging Face's HubertModel layout (with the tensors HF always has)."""
    with torch.serialization.safe_globals([FairseqDictionary]):
        ckpt = torch.load(tiny_pt, weights_only=True)
    state = {k: v for k, v in ckpt["model"].items() if k not in ("mask_emb", "label_embs_concat")}
    dim = state["layer_norm.weight"].shape[0]
    # fairseq leaves out post_extract_proj when the conv width equals the encoder width; HF always has one
    state["post_extract_proj.weight"] = torch.eye(dim, dtype=torch.float16)
    state["post_extract_proj.bias"] = torch.zeros(dim, dtype=torch.float16)
    hf = fairseq_to_hf(state, parametrized)
    hf["masked_spec_embed"] = torch.zeros(dim, dtype=torch.float16)
    return hf
