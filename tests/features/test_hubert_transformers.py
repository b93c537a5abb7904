"""Full-size HuBERT-base equality with transformers' HubertModel (optional test dependency).

transformers is never used by rvclora; here it is an independent second implementation. A randomly
initialised HuBERT-base (12 heads, 128-tap grouped positional conv, 512-channel convs) is saved in both the
Hugging Face and the fairseq layout and must give transformers' hidden_states[9]+final_proj (v1) and
last_hidden_state (v2).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers_hubert import hf_to_fairseq
from safetensors.torch import save_file

from rvclora.features.hubert import load_content_encoder

transformers = pytest.importorskip("transformers")

TOL = 1e-4


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    torch.manual_seed(0)
    config = transformers.HubertConfig()  # the HuBERT-base defaults
    model = transformers.HubertModel(config).eval()
    final_proj = torch.nn.Linear(config.hidden_size, config.classifier_proj_size)
    with torch.no_grad():  # fp16-rounded weights, as the checkpoints RVC users have; random norms/biases
        for p in [*model.parameters(), *final_proj.parameters()]:
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.1)
            p.copy_(p.half().float())
    wav = torch.randn(1, 8000) * 0.1
    with torch.inference_mode():
        out = model(wav, output_hidden_states=True)
        v1 = final_proj(out.hidden_states[9])[0].numpy()
        v2 = out.last_hidden_state[0].numpy()
    state = {k: v.detach().clone().half() for k, v in model.state_dict().items()}
    state.update({f"final_proj.{k}": v.detach().clone().half() for k, v in final_proj.state_dict().items()})

    root = tmp_path_factory.mktemp("hubert_full")
    hf_dir = root / "hubert_base"
    hf_dir.mkdir()
    config_dict = config.to_dict()
    config_dict["model_type"] = "hubert"
    (hf_dir / "config.json").write_text(json.dumps(config_dict))
    save_file(state, str(hf_dir / "model.safetensors"))

    fairseq_state = hf_to_fairseq({k: v for k, v in state.items() if k != "masked_spec_embed"})
    fairseq_state["mask_emb"] = torch.zeros(config.hidden_size, dtype=torch.float16)
    fairseq_state["label_embs_concat"] = torch.zeros(504, 256, dtype=torch.float16)
    cfg_model = {
        "_name": "hubert",
        "extractor_mode": "default",
        "encoder_layers": 12,
        "encoder_embed_dim": 768,
        "encoder_ffn_embed_dim": 3072,
        "encoder_attention_heads": 12,
        "activation_fn": "gelu",
        "final_dim": 256,
        "layer_norm_first": False,
        "conv_bias": False,
        "conv_pos": 128,
        "conv_pos_groups": 16,
        "conv_feature_layers": "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2",
    }
    fairseq_pt = root / "hubert_base.pt"
    torch.save(
        {
            "args": None,
            "cfg": {"model": cfg_model, "task": {"normalize": False}},
            "model": fairseq_state,
            "criterion": None,
            "optimizer_history": [],
            "extra_state": {},
        },
        fairseq_pt,
    )
    return {"wav": wav[0].numpy(), "v1": v1, "v2": v2, "hf": hf_dir, "fairseq": fairseq_pt}


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["hf", "fairseq"])
def test_equals_transformers_hubert_base(reference: dict, layout: str) -> None:
    enc = load_content_encoder(reference[layout])
    assert enc.dim("v1") == 256 and enc.dim("v2") == 768
    for version in ("v1", "v2"):
        got = enc.extract(reference["wav"], version)
        want = reference[version]
        assert got.shape == want.shape
        assert float(np.abs(got - want).max()) < TOL, version
