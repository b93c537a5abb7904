"""Recover a :class:`SynthConfig` from a generator state_dict (training/pretrained files carry no config).

Channel widths, layer counts and kernel sizes are read from tensor shapes. What shapes cannot tell —
the sample rate, the upsample rates (only NSF models reveal them through ``noise_convs``), resblock
dilations and the training segment — comes from the caller's overrides or from the one standard RVC
configuration whose decoder geometry matches.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from rvclora.errors import ConfigError, IncompatibleError
from rvclora.models.config import (
    CONTENT_DIM,
    FRAMES_PER_SECOND,
    SAVED_SEGMENT_SIZE,
    STANDARD_CONFIGS,
    SynthConfig,
    front_end,
    parse_sr,
)

_DILATIONS = {3: [1, 3, 5], 2: [1, 3]}  # resblock "1" uses 3 dilations in every RVC config; "2" uses 2


def _weight(sd: Mapping[str, Any], prefix: str) -> Any:
    """The weight tensor of a (possibly weight-normed) layer."""
    for suffix in (".weight_v", ".weight"):
        if prefix + suffix in sd:
            return sd[prefix + suffix]
    raise KeyError(prefix)


def _count(sd: Mapping[str, Any], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd if (m := rx.match(k))})


def _noise_strides(sd: Mapping[str, Any], n_ups: int) -> list[int] | None:
    """Rates of stages 1.. from the NSF noise convs (kernel of stage i = 2·prod(rates[i+1:]))."""
    if f"dec.noise_convs.{n_ups - 1}.weight" not in sd:
        return None
    strides = [int(sd[f"dec.noise_convs.{i}.weight"].shape[2]) // 2 for i in range(n_ups - 1)] + [1]
    return [strides[i - 1] // strides[i] for i in range(1, n_ups)]


def infer_config(sd: Mapping[str, Any], **overrides: Any) -> SynthConfig:
    """The configuration of the generator whose state_dict is ``sd``; ``overrides`` win over inference."""
    try:
        emb_phone = sd["enc_p.emb_phone.weight"]
        hidden, content = (int(n) for n in emb_phone.shape)
        ffn = sd["enc_p.encoder.ffn_layers.0.conv_1.weight"]
        n_ups = _count(sd, r"dec\.ups\.(\d+)\.")
        n_res = _count(sd, r"dec\.resblocks\.(\d+)\.")
        ups = [_weight(sd, f"dec.ups.{i}") for i in range(n_ups)]
        per_stage = n_res // max(n_ups, 1)
        resblock = "1" if any(k.startswith("dec.resblocks.0.convs2.") for k in sd) else "2"
        conv_list = "convs1" if resblock == "1" else "convs"
        rb_kernels = [int(_weight(sd, f"dec.resblocks.{j}.{conv_list}.0").shape[2]) for j in range(per_stage)]
        n_dil = [_count(sd, rf"dec\.resblocks\.{j}\.{conv_list}\.(\d+)\.") for j in range(per_stage)]
        derived: dict[str, Any] = {
            "inter_channels": int(sd["enc_p.proj.weight"].shape[0]) // 2,
            "hidden_channels": hidden,
            "filter_channels": int(ffn.shape[0]),
            "n_heads": hidden // int(sd["enc_p.encoder.attn_layers.0.emb_rel_k"].shape[2]),
            "n_layers": _count(sd, r"enc_p\.encoder\.attn_layers\.(\d+)\."),
            "kernel_size": int(ffn.shape[2]),
            "resblock": resblock,
            "resblock_kernel_sizes": rb_kernels,
            "upsample_initial_channel": int(ups[0].shape[0]),
            "upsample_kernel_sizes": [int(u.shape[2]) for u in ups],
            "spk_embed_dim": int(sd["emb_g.weight"].shape[0]),
            "gin_channels": int(sd["emb_g.weight"].shape[1]),
            "f0": "enc_p.emb_pitch.weight" in sd,
        }
    except (KeyError, IndexError, AttributeError, ZeroDivisionError) as exc:
        raise IncompatibleError(
            f"not an RVC generator state_dict (no {exc} tensor)", "give an RVC model or a pretrained G file"
        ) from None
    versions = {dim: v for v, dim in CONTENT_DIM.items()}
    if content not in versions and "version" not in overrides:
        raise IncompatibleError(
            f"content width {content} is neither v1 (256) nor v2 (768)", "this is not an RVC generator"
        )
    derived["version"] = versions.get(content, "v2")
    if "enc_q.pre.weight" in sd:
        derived["spec_channels"] = int(sd["enc_q.pre.weight"].shape[1])
    if all(n in _DILATIONS for n in n_dil):
        derived["resblock_dilation_sizes"] = [_DILATIONS[n] for n in n_dil]
    derived.update(overrides)
    return _complete(derived, _noise_strides(sd, n_ups))


def _complete(cfg: dict[str, Any], noise_rates: list[int] | None) -> SynthConfig:
    """Fill sr, upsample rates, spec channels, segment and dilations from the matching standard config."""
    kernels = cfg["upsample_kernel_sizes"]
    if "sr" in cfg:
        cfg["sr"] = parse_sr(cfg["sr"])
        matches = [c for c in STANDARD_CONFIGS.values() if c.sr == cfg["sr"]]
    else:
        matches = [
            c
            for c in STANDARD_CONFIGS.values()
            if c.upsample_kernel_sizes == kernels
            and cfg.get("spec_channels", c.spec_channels) == c.spec_channels
            and (noise_rates is None or c.upsample_rates[1:] == noise_rates)
        ]
        if len({c.sr for c in matches}) != 1:
            raise IncompatibleError(
                "cannot tell the sample rate of this generator from its shapes",
                "pass the rate explicitly, e.g. sr=40000 (CLI: --sr 40k)",
            )
        cfg["sr"] = matches[0].sr
    same_geometry = [c for c in matches if c.upsample_kernel_sizes == kernels]
    same_geometry.sort(key=lambda c: c.version != cfg["version"])
    std = same_geometry[0] if same_geometry else None
    if "upsample_rates" not in cfg:
        if std is not None and (noise_rates is None or std.upsample_rates[1:] == noise_rates):
            cfg["upsample_rates"] = list(std.upsample_rates)
        elif noise_rates is not None and (cfg["sr"] // FRAMES_PER_SECOND) % math.prod(noise_rates) == 0:
            # every RVC model runs at 100 frames/s, so the first rate is what the hop leaves over
            first = cfg["sr"] // FRAMES_PER_SECOND // math.prod(noise_rates)
            cfg["upsample_rates"] = [first, *noise_rates]
        else:
            raise IncompatibleError(
                "cannot tell the upsample rates of this generator from its shapes",
                "pass upsample_rates=[...] explicitly",
            )
    standard_fe = cfg["sr"] in {c.sr for c in STANDARD_CONFIGS.values()}
    if "spec_channels" not in cfg:
        if not standard_fe:
            raise IncompatibleError(
                "cannot tell the spectrogram size of this generator", "pass spec_channels=... explicitly"
            )
        cfg["spec_channels"] = front_end(cfg["sr"], cfg["version"]).spec_channels
    if "segment_size" not in cfg:
        cfg["segment_size"] = front_end(cfg["sr"], cfg["version"]).segment_frames if standard_fe else SAVED_SEGMENT_SIZE
    cfg.setdefault("resblock_dilation_sizes", [[1, 3, 5]] * len(cfg["resblock_kernel_sizes"]))
    cfg.setdefault("p_dropout", 0)
    try:
        return SynthConfig(**cfg)
    except TypeError as exc:
        raise ConfigError(f"invalid synthesizer settings: {exc}", "check the overrides") from None
