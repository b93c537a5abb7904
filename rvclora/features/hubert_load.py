"""Read HuBERT/ContentVec checkpoints in the layouts RVC users have, without fairseq or transformers.

- fairseq ``.pt`` (RVC's ``hubert_base.pt``): loaded with ``weights_only=True``; its label dictionaries are
  ``fairseq.data.dictionary.Dictionary`` objects, read into an inert stand-in class registered under that name.
  Any other Python object in the file is refused before loading.
- Hugging Face: a folder with ``config.json`` + ``model.safetensors`` or ``pytorch_model.bin`` (Applio, RVC
  ``main``), or one such weights file; its names are mapped onto fairseq's.

Everything returns ``(HubertArch, state_dict with fairseq names, normalize_waveform)``; the kind of file is
checked from its tensor names before any model is built.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import torch

from rvclora.errors import BadInputError
from rvclora.features.hubert_model import HubertArch
from rvclora.fileio import require_file, safe_torch_load

# Stand-in for fairseq's label Dictionary: torch matches allowed classes by module + name, and the
# loaded instances (symbol tables of the pretraining labels) are never used.
FairseqDictionary = type(
    "Dictionary", (), {"__module__": "fairseq.data.dictionary", "__doc__": "Inert stand-in for fairseq's Dictionary."}
)

_FAIRSEQ_MARK = "feature_extractor.conv_layers.0.0.weight"
_HF_MARK = "feature_extractor.conv_layers.0.conv.weight"
_TRAINING_ONLY = ("mask_emb", "label_embs_concat", "masked_spec_embed")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# HuBERT-base defaults, used only for numbers a config leaves out (and that weights cannot tell).
_BASE_CONV = "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2"
_STRIDE_BY_KERNEL = {10: 5, 3: 2, 2: 2}


def _not_hubert(path: Path, found: str) -> BadInputError:
    return BadInputError(
        f"{path.name} is not a HuBERT/ContentVec checkpoint ({found})",
        "give hubert_base.pt (fairseq) or a Hugging Face HuBERT folder/file",
    )


def read_checkpoint(path: str | Path) -> tuple[HubertArch, dict[str, torch.Tensor], bool]:
    """Detect the layout of ``path`` and return its architecture, fairseq-named weights and normalise flag."""
    p = Path(path).expanduser()
    if p.is_dir():
        return _read_hf_folder(p)
    p = require_file(p, "HuBERT checkpoint")
    if p.suffix == ".safetensors":
        return _from_hf(p, _load_safetensors(p), _sibling_config(p))
    obj = safe_torch_load(p, "HuBERT checkpoint", safe_globals=[FairseqDictionary])
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping) and _FAIRSEQ_MARK in obj["model"]:
        return _from_fairseq(p, obj)
    if isinstance(obj, Mapping) and _hf_prefix(obj) is not None:
        return _from_hf(p, obj, _sibling_config(p))
    raise _not_hubert(p, _describe(obj))


def _describe(obj: Any) -> str:
    """A short hint of what the file is instead, for the error message."""
    if not isinstance(obj, Mapping):
        return f"it holds a {type(obj).__name__}"
    state = obj.get("model") if isinstance(obj.get("model"), Mapping) else obj.get("weight", obj)
    keys = [k for k in state if isinstance(k, str)] if isinstance(state, Mapping) else []
    if any(k.startswith(("enc_p.", "dec.", "flow.")) for k in keys):
        return "it looks like an RVC voice model"
    if keys:
        return f"first key {keys[0]!r}"
    return "no tensors found"


# ----------------------------------------------------------------------------------------------- fairseq


def parse_conv_layers(spec: str) -> tuple[tuple[int, int, int], ...]:
    """Evaluate fairseq's ``conv_feature_layers`` string (lists of int tuples joined by + and *) safely."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [ev(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = ev(node.left), ev(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(ast.dump(node))

    try:
        layers = ev(ast.parse(spec, mode="eval").body)
        out = tuple((int(c), int(k), int(s)) for c, k, s in layers)
    except (SyntaxError, ValueError, TypeError) as exc:
        raise BadInputError(
            f"cannot read conv_feature_layers {spec!r} in the HuBERT config", "the checkpoint's cfg is damaged"
        ) from exc
    if not out:
        raise BadInputError("HuBERT config has no feature convs", "the checkpoint's cfg is damaged")
    return out


def _from_fairseq(p: Path, obj: Mapping[str, Any]) -> tuple[HubertArch, dict[str, torch.Tensor], bool]:
    cfg = obj.get("cfg")
    if not isinstance(cfg, Mapping) or not isinstance(cfg.get("model"), Mapping):
        raise BadInputError(
            f"HuBERT checkpoint {p.name} has no cfg['model'] architecture",
            "only fairseq checkpoints written with a dict cfg (fairseq ≥ 0.10.2) are supported",
        )
    m = cfg["model"]
    _require(p, m.get("activation_fn", "gelu") == "gelu", "activation_fn must be gelu")
    _require(p, m.get("layer_type", "transformer") == "transformer", "only the transformer layer type")
    _require(
        p,
        not m.get("conv_pos_batch_norm", False) and m.get("pos_conv_depth", 1) == 1,
        "only a single weight-normed positional conv",
    )
    mode = m.get("extractor_mode", "default")
    _require(p, mode in ("default", "layer_norm"), f"unknown extractor_mode {mode!r}")
    state = {k: v for k, v in obj["model"].items() if k not in _TRAINING_ONLY}
    conv = parse_conv_layers(str(m.get("conv_feature_layers", _BASE_CONV)))
    embed = int(m.get("encoder_embed_dim", 768))
    arch = HubertArch(
        conv_layers=conv,
        extractor_mode=mode,
        conv_bias=bool(m.get("conv_bias", False)),
        embed_dim=embed,
        ffn_dim=int(m.get("encoder_ffn_embed_dim", 3072)),
        num_layers=int(m.get("encoder_layers", 12)),
        num_heads=int(m.get("encoder_attention_heads", 12)),
        conv_pos=int(m.get("conv_pos", 128)),
        conv_pos_groups=int(m.get("conv_pos_groups", 16)),
        layer_norm_first=bool(m.get("layer_norm_first", False)),
        final_dim=_final_dim(state),
        post_extract_proj=conv[-1][0] != embed,
    )
    task = cfg.get("task")
    if not isinstance(task, Mapping):
        task = {}
    return arch, state, bool(task.get("normalize", False))


def _final_dim(state: Mapping[str, torch.Tensor]) -> int:
    """Width of final_proj from its weight (fairseq's untie_final_proj can widen it beyond final_dim)."""
    w = state.get("final_proj.weight")
    return int(w.shape[0]) if w is not None else 0


def _require(p: Path, ok: bool, what: str) -> None:
    if not ok:
        raise BadInputError(
            f"unsupported HuBERT variant in {p.name}: {what}",
            "RVC uses HuBERT-base/ContentVec; other variants are not supported",
        )


# ------------------------------------------------------------------------------------------ Hugging Face

# HF name pattern → fairseq name (applied after removing a "hubert." prefix).
_HF_RENAMES: tuple[tuple[str, str], ...] = (
    (r"^feature_extractor\.conv_layers\.(\d+)\.conv\.", r"feature_extractor.conv_layers.\1.0."),
    (r"^feature_projection\.layer_norm\.", "layer_norm."),
    (r"^feature_projection\.projection\.", "post_extract_proj."),
    (r"^encoder\.pos_conv_embed\.conv\.(weight_g|parametrizations\.weight\.original0)$", "encoder.pos_conv.0.weight_g"),
    (r"^encoder\.pos_conv_embed\.conv\.(weight_v|parametrizations\.weight\.original1)$", "encoder.pos_conv.0.weight_v"),
    (r"^encoder\.pos_conv_embed\.conv\.bias$", "encoder.pos_conv.0.bias"),
    (r"^encoder\.layers\.(\d+)\.attention\.", r"encoder.layers.\1.self_attn."),
    (r"^encoder\.layers\.(\d+)\.layer_norm\.", r"encoder.layers.\1.self_attn_layer_norm."),
    (r"^encoder\.layers\.(\d+)\.feed_forward\.intermediate_dense\.", r"encoder.layers.\1.fc1."),
    (r"^encoder\.layers\.(\d+)\.feed_forward\.output_dense\.", r"encoder.layers.\1.fc2."),
)


def hf_to_fairseq_name(name: str, group_norm: bool) -> str:
    """Map one Hugging Face HuBERT tensor name to fairseq's (the conv norm depends on the extractor mode)."""
    m = re.match(r"^feature_extractor\.conv_layers\.(\d+)\.layer_norm\.(.+)$", name)
    if m:
        return f"feature_extractor.conv_layers.{m[1]}.2.{'' if group_norm else '1.'}{m[2]}"
    for pattern, repl in _HF_RENAMES:
        new, n = re.subn(pattern, repl, name)
        if n:
            return new
    return name


def _hf_prefix(state: Mapping[str, Any]) -> str | None:
    for prefix in ("", "hubert."):
        if prefix + _HF_MARK in state:
            return prefix
    return None


def _read_hf_folder(folder: Path) -> tuple[HubertArch, dict[str, torch.Tensor], bool]:
    weights = next((folder / n for n in _WEIGHT_FILES if (folder / n).is_file()), None)
    if weights is None:
        raise BadInputError(
            f"no {' or '.join(_WEIGHT_FILES)} in {folder}",
            "give a Hugging Face HuBERT folder, or the checkpoint file itself",
        )
    config = _sibling_config(weights)
    if config is None:
        raise BadInputError(f"no config.json in {folder}", "copy the model's config.json next to its weights")
    if weights.suffix == ".safetensors":
        state: Mapping[str, Any] = _load_safetensors(weights)
    else:
        state = safe_torch_load(weights, "HuBERT weights")
        if not isinstance(state, Mapping):
            raise _not_hubert(weights, _describe(state))
    return _from_hf(weights, state, config)


def _load_safetensors(p: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(p))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BadInputError(f"{p.name} is truncated or not a safetensors file", "re-download it") from exc


def _sibling_config(weights: Path) -> dict[str, Any] | None:
    """config.json next to a weights file, plus preprocessor_config.json's normalise flag when present."""
    cfg_path = weights.parent / "config.json"
    if not cfg_path.is_file():
        return None
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
        pre = weights.parent / "preprocessor_config.json"
        if pre.is_file():
            config["_do_normalize"] = bool(json.loads(pre.read_text(encoding="utf-8")).get("do_normalize", False))
    except (OSError, ValueError) as exc:
        raise BadInputError(f"cannot read {cfg_path}: {exc}", "fix or re-download the config file") from exc
    if not isinstance(config, dict) or config.get("model_type", "hubert") != "hubert":
        raise BadInputError(
            f"{cfg_path} is not a HuBERT config (model_type {config.get('model_type')!r})",
            "give a HuBERT/ContentVec model",
        )
    return config


def _from_hf(
    p: Path,
    raw: Mapping[str, Any],
    config: Mapping[str, Any] | None,
) -> tuple[HubertArch, dict[str, torch.Tensor], bool]:
    prefix = _hf_prefix(raw)
    if prefix is None:
        raise _not_hubert(p, _describe(raw))
    hf = {k[len(prefix) :]: v for k, v in raw.items() if isinstance(k, str) and k.startswith(prefix)}
    if "final_proj.weight" in raw:  # RVC main's subclass keeps final_proj outside the "hubert." prefix
        hf.setdefault("final_proj.weight", raw["final_proj.weight"])
        hf.setdefault("final_proj.bias", raw.get("final_proj.bias"))
    arch = _hf_arch(p, hf, config)
    state = {
        hf_to_fairseq_name(k, arch.extractor_mode == "default"): v
        for k, v in hf.items()
        if k not in _TRAINING_ONLY and isinstance(v, torch.Tensor)
    }
    return arch, state, bool(config.get("_do_normalize", False)) if config else False


def _hf_arch(p: Path, hf: Mapping[str, torch.Tensor], config: Mapping[str, Any] | None) -> HubertArch:
    """Architecture from config.json; without one, from tensor shapes plus HuBERT-base conventions
    (conv strides by kernel size, 64-wide attention heads, post-LN) that weights alone cannot tell."""
    if config is not None:
        _require(
            p,
            config.get("hidden_act", "gelu") == "gelu" and config.get("feat_extract_activation", "gelu") == "gelu",
            "activations must be gelu",
        )
        _require(
            p,
            config.get("feat_proj_layer_norm", True) and not config.get("conv_pos_batch_norm", False),
            "feature projection LayerNorm and weight-normed positional conv are required",
        )
        dims, kernels, strides = (cast(Any, config.get(k)) for k in ("conv_dim", "conv_kernel", "conv_stride"))
        try:
            conv = tuple((int(c), int(k), int(s)) for c, k, s in zip(dims, kernels, strides, strict=True))
            hidden = int(config["hidden_size"])
            arch = HubertArch(
                conv_layers=conv,
                extractor_mode="default" if config.get("feat_extract_norm", "group") == "group" else "layer_norm",
                conv_bias=bool(config.get("conv_bias", False)),
                embed_dim=hidden,
                ffn_dim=int(config["intermediate_size"]),
                num_layers=int(config["num_hidden_layers"]),
                num_heads=int(config["num_attention_heads"]),
                conv_pos=int(config["num_conv_pos_embeddings"]),
                conv_pos_groups=int(config["num_conv_pos_embedding_groups"]),
                layer_norm_first=bool(config.get("do_stable_layer_norm", False)),
                final_dim=_final_dim(hf),
                post_extract_proj=True,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInputError(
                f"HuBERT config.json next to {p.name} is incomplete ({exc})", "re-download the model's config.json"
            ) from exc
        return arch
    return _arch_from_shapes(p, hf)


def _arch_from_shapes(p: Path, hf: Mapping[str, torch.Tensor]) -> HubertArch:
    try:
        conv = []
        for i in range(64):
            w = hf.get(f"feature_extractor.conv_layers.{i}.conv.weight")
            if w is None:
                break
            conv.append((int(w.shape[0]), int(w.shape[2]), _STRIDE_BY_KERNEL[int(w.shape[2])]))
        layers = 1 + max(int(m[1]) for k in hf if (m := re.match(r"encoder\.layers\.(\d+)\.", k)))
        pos_v = hf.get(
            "encoder.pos_conv_embed.conv.weight_v",
            hf.get("encoder.pos_conv_embed.conv.parametrizations.weight.original1"),
        )
        if pos_v is None:
            raise KeyError("encoder.pos_conv_embed.conv.weight_v")
        hidden = int(hf["encoder.layer_norm.weight"].shape[0])
        return HubertArch(
            conv_layers=tuple(conv),
            extractor_mode="layer_norm" if "feature_extractor.conv_layers.1.layer_norm.weight" in hf else "default",
            conv_bias="feature_extractor.conv_layers.0.conv.bias" in hf,
            embed_dim=hidden,
            ffn_dim=int(hf["encoder.layers.0.feed_forward.intermediate_dense.weight"].shape[0]),
            num_layers=layers,
            num_heads=max(1, hidden // 64),
            conv_pos=int(pos_v.shape[2]),
            conv_pos_groups=hidden // int(pos_v.shape[1]),
            layer_norm_first=False,
            final_dim=_final_dim(hf),
            post_extract_proj=True,
        )
    except (KeyError, AttributeError, IndexError, ValueError) as exc:
        raise BadInputError(
            f"cannot work out the HuBERT architecture of {p.name} from its tensors ({exc})",
            "put the model's config.json next to the weights file",
        ) from exc
