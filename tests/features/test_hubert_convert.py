"""Renaming HuBERT tensors between fairseq and Hugging Face names, for the other HuBERT tests.

Written independently of rvclora.features.hubert_load, so the loader's mapping is checked against a second one.
"""

from __future__ import annotations

import re

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


def test_renaming_round_trips_and_changes_every_renamed_prefix() -> None:
    names = [
        "feature_extractor.conv_layers.3.0.weight",
        "feature_extractor.conv_layers.0.2.bias",
        "layer_norm.weight",
        "post_extract_proj.bias",
        "encoder.pos_conv.0.weight_g",
        "encoder.layers.11.self_attn.q_proj.weight",
        "encoder.layers.2.self_attn_layer_norm.bias",
        "encoder.layers.0.fc2.weight",
        "encoder.layer_norm.weight",
        "final_proj.weight",
    ]
    state = {n: i for i, n in enumerate(names)}
    for parametrized in (True, False):
        hf = fairseq_to_hf(state, parametrized)
        assert hf_to_fairseq(hf, parametrized) == state
    hf = fairseq_to_hf(state)
    assert "feature_extractor.conv_layers.3.conv.weight" in hf
    assert "encoder.layers.2.layer_norm.bias" in hf
    assert "encoder.pos_conv_embed.conv.parametrizations.weight.original0" in hf
    assert "encoder.layer_norm.weight" in hf and "feature_projection.layer_norm.weight" in hf
