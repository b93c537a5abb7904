"""The tests' own fairseq <-> Hugging Face renaming of HuBERT tensors (helpers_hubert) round-trips."""

from __future__ import annotations

from helpers_hubert import fairseq_to_hf, hf_to_fairseq


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
