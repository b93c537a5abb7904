"""Reading and writing RVC checkpoint files (rvc-interop §3) — every load is ``weights_only``.

Layouts understood:
* inference model (``assets/weights/<name>.pth``): ``weight`` (fp16, no enc_q), 18-item ``config``,
  ``info``, ``sr``, ``f0``, ``version`` — read and written;
* pretrained / training generator (``f0G40k.pth``, ``G_2400.pth``): ``{"model": state_dict, ...}`` with
  enc_q; the configuration is recovered from tensor shapes (:mod:`rvclora.models.shapes`);
* discriminator (``f0D40k.pth``, ``D_2400.pth``): ``{"model": MPD state_dict, ...}``.
"""

from __future__ import annotations

import os
from collections import Counter, OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from rvclora.errors import BadInputError, ConfigError, IncompatibleError
from rvclora.fileio import atomic_torch_save, safe_torch_load
from rvclora.models.config import SAVED_SEGMENT_SIZE, SynthConfig, parse_sr
from rvclora.models.config import sr_label as make_sr_label

if TYPE_CHECKING:
    import torch
    from torch import nn

    from rvclora.models.discriminator import MultiPeriodDiscriminator
    from rvclora.models.synthesizer import Synthesizer

PathLike = str | os.PathLike[str]
KINDS = ("rvc-model", "rvc-train-G", "rvc-train-D", "unknown")


def _is_tensor_map(obj: Any) -> TypeGuard[Mapping[str, Any]]:
    import torch

    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _strip_module_prefix(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Drop DistributedDataParallel's ``module.`` prefix when every key has it."""
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module.") :]: v for k, v in sd.items()}
    return dict(sd)


def _classify(obj: Any) -> tuple[str, dict[str, Any] | None]:
    """(kind, state_dict) of a loaded checkpoint object."""
    if isinstance(obj, Mapping) and "weight" in obj and "config" in obj and _is_tensor_map(obj["weight"]):
        return "rvc-model", dict(obj["weight"])
    sd = obj.get("model") if isinstance(obj, Mapping) and "model" in obj else obj
    if _is_tensor_map(sd):
        sd = _strip_module_prefix(sd)
        if "enc_p.emb_phone.weight" in sd:
            return "rvc-train-G", sd
        if any(k.startswith("discriminators.") for k in sd):
            return "rvc-train-D", sd
    return "unknown", None


def _load(path: PathLike, what: str) -> tuple[str, Any, dict[str, Any] | None]:
    obj = safe_torch_load(path, what)
    kind, sd = _classify(obj)
    return kind, obj, sd


def _not_a(kind: str, path: PathLike, wanted: str) -> BadInputError:
    name = Path(path).name
    if kind == "rvc-train-D":
        return BadInputError(
            f"{name} is an RVC discriminator (D) file, not a {wanted}",
            "give the matching G file or an inference model .pth",
        )
    if kind in ("rvc-model", "rvc-train-G"):
        return BadInputError(f"{name} is an RVC generator file, not a {wanted}", "give a D file")
    return BadInputError(
        f"{name} is not an RVC {wanted} (no weight/config or model state_dict inside)",
        "give an RVC .pth model file or a pretrained G/D file",
    )


def load_state_dict_strict(model: nn.Module, sd: Mapping[str, Any], source: PathLike | str) -> None:
    """Load ``sd`` requiring the same keys and shapes; mismatches become one IncompatibleError line."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    wrong = [
        f"{k} {list(sd[k].shape)}≠{list(v.shape)}"
        for k, v in expected.items()
        if k in sd and tuple(sd[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if wrong:
            parts.append(f"{len(wrong)} of another shape (e.g. {'; '.join(wrong[:3])})")
        raise IncompatibleError(
            f"weights in {Path(str(source)).name} do not fit the model: {'; '.join(parts)}",
            "the file is for another architecture; check version/sr/f0 or pass them",
        )
    model.load_state_dict(dict(sd), strict=True)


def _inference_config(
    obj: Mapping[str, Any], weight: Mapping[str, Any], path: PathLike, overrides: dict[str, Any]
) -> SynthConfig:
    """RVC's reader semantics: version defaults to v1, f0 to 1, speakers = rows of emb_g."""
    version = overrides.pop("version", obj.get("version", "v1"))
    f0 = overrides.pop("f0", obj.get("f0", 1))
    try:
        config = SynthConfig.from_list(list(obj["config"]), version=version, f0=bool(f0))
    except (ConfigError, TypeError) as exc:
        raise BadInputError(f"{Path(path).name}: {exc}", "the model file is damaged or not an RVC model") from None
    if "emb_g.weight" in weight:
        config.spk_embed_dim = int(weight["emb_g.weight"].shape[0])
    return config.replace(**overrides) if overrides else config


def load_synthesizer(path: PathLike, device: str | torch.device = "cpu", **overrides: Any) -> Synthesizer:
    """Load any RVC generator file as a ready synthesizer (eval mode, fp32, ``.config`` attached).

    Inference models are built without ``enc_q`` (as RVC does) unless the file carries it; training
    layouts keep it. ``overrides`` (``sr=40000``, ``version="v2"``, ``segment_size=32`` …) replace config
    fields, e.g. when the sample rate cannot be told from a G file's shapes.
    """
    from rvclora.models.shapes import infer_config
    from rvclora.models.synthesizer import build_synthesizer

    kind, obj, sd = _load(path, "RVC model")
    if kind == "rvc-model":
        assert sd is not None
        config = _inference_config(obj, sd, path, dict(overrides))
    elif kind == "rvc-train-G":
        assert sd is not None
        config = infer_config(sd, **overrides)
    else:
        raise _not_a(kind, path, "voice model")
    model = build_synthesizer(config)
    if not any(k.startswith("enc_q.") for k in sd):
        model.remove_posterior_encoder()
    load_state_dict_strict(model, sd, path)
    return model.to(device).eval()


def load_rvc_inference(path: PathLike) -> Synthesizer:
    """Load an inference ``.pth`` exactly as RVC's WebUI does (``VC.get_vc``), but strict.

    Mirrors upstream: config[-3] from emb_g rows, ``f0`` default 1, ``version`` default v1, class by
    (version, f0) with the v1-f0 class as fallback, constructed positionally, enc_q deleted. Used to
    prove that files written by :func:`save_rvc_model` load in RVC.
    """
    from rvclora.models import synthesizer as synth

    obj = safe_torch_load(path, "RVC model")
    try:
        weight = obj["weight"]
        config = list(obj["config"])
        config[-3] = weight["emb_g.weight"].shape[0]
        classes = {
            ("v1", 1): synth.SynthesizerTrnMs256NSFsid,
            ("v1", 0): synth.SynthesizerTrnMs256NSFsid_nono,
            ("v2", 1): synth.SynthesizerTrnMs768NSFsid,
            ("v2", 0): synth.SynthesizerTrnMs768NSFsid_nono,
        }
        cls = classes.get((obj.get("version", "v1"), obj.get("f0", 1)), synth.SynthesizerTrnMs256NSFsid)
        net_g = cls(*config, is_half=False)
        del net_g.enc_q
        net_g.load_state_dict(weight, strict=True)
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError, ConfigError) as exc:
        raise IncompatibleError(
            f"RVC could not load {Path(path).name}: {str(exc).splitlines()[0][:200]}",
            "the file does not follow RVC's inference layout",
        ) from None
    return net_g.eval()


def save_rvc_model(
    model: nn.Module | Mapping[str, torch.Tensor],
    path: PathLike,
    precision: str = "fp16",
    info: str = "",
    sr_label: str | None = None,
    config: SynthConfig | None = None,
) -> Path:
    """Write an RVC inference model exactly as RVC's ``savee`` does; returns the path.

    ``model`` is a synthesizer (its ``.config`` is used) or a plain upstream-keyed state_dict (config
    from ``config`` or recovered from shapes, with ``sr_label`` as the rate if given). Adapters must be
    merged first: the key set has to be exactly upstream's.
    """
    import torch
    from torch import nn

    from rvclora.models.shapes import infer_config
    from rvclora.models.synthesizer import build_synthesizer

    dtypes = {"fp16": torch.float16, "fp32": torch.float32}
    if precision not in dtypes:
        raise ConfigError(f"unknown precision {precision!r}", "use fp16 or fp32")
    if isinstance(model, nn.Module):
        sd = model.state_dict()
        config = config or getattr(model, "config", None)
        if config is None:
            raise ConfigError("the model has no .config", "load it with rvclora.load_synthesizer")
    else:
        sd = dict(model)
        if config is None:
            config = infer_config(sd, **({"sr": parse_sr(sr_label)} if sr_label else {}))
    weight = {k: v for k, v in sd.items() if "enc_q" not in k}
    with torch.device("meta"):
        reference = build_synthesizer(config)
    reference.remove_posterior_encoder()
    load_target = reference.state_dict()
    extra = [k for k in weight if k not in load_target]
    missing = [k for k in load_target if k not in weight]
    if extra or missing:
        raise IncompatibleError(
            f"cannot save an RVC model: {len(extra)} non-RVC keys (e.g. {', '.join(extra[:3])}), "
            f"{len(missing)} missing (e.g. {', '.join(missing[:3])})",
            "merge or remove LoRA adapters (and keep weight norm) before exporting",
        )
    ordered = {k: weight[k].detach().to(device="cpu", dtype=dtypes[precision]).contiguous() for k in load_target}
    cfg_list = config.to_list(segment_size=SAVED_SEGMENT_SIZE)
    cfg_list[-3] = int(ordered["emb_g.weight"].shape[0])
    ckpt: OrderedDict[str, Any] = OrderedDict()
    ckpt["weight"] = ordered
    ckpt["config"] = cfg_list
    ckpt["info"] = str(info)
    ckpt["sr"] = sr_label or make_sr_label(config.sr)
    ckpt["f0"] = int(config.f0)
    ckpt["version"] = config.version
    atomic_torch_save(ckpt, path)
    return Path(path)


def load_discriminator(path: PathLike, version: str | None = None) -> MultiPeriodDiscriminator:
    """Load a pretrained/training D file (``{"model": MPD state_dict}``); the version follows its size."""
    from rvclora.models.discriminator import PERIODS, MultiPeriodDiscriminator

    kind, _, sd = _load(path, "discriminator")
    if kind != "rvc-train-D" or sd is None:
        raise _not_a(kind, path, "discriminator")
    count = len({k.split(".")[1] for k in sd if k.startswith("discriminators.")})
    found = {len(p) + 1: v for v, p in PERIODS.items()}.get(count)
    if found is None:
        raise IncompatibleError(
            f"{Path(path).name} holds {count} sub-discriminators; RVC uses 7 (v1) or 9 (v2)", "give an RVC D file"
        )
    if version is not None and version != found:
        raise IncompatibleError(
            f"{Path(path).name} is a {found} discriminator, not {version}",
            f"use the {version} D file or train a {found} model",
        )
    widest = sd.get("discriminators.0.convs.5.weight_v")  # 1024 channels at full width
    divisor = 1024 // int(widest.shape[0]) if widest is not None and 0 < widest.shape[0] <= 1024 else 1
    model = MultiPeriodDiscriminator(found, width_divisor=1 << max(0, divisor.bit_length() - 1))
    load_state_dict_strict(model, sd, path)
    return model


def read_checkpoint_info(path: PathLike) -> dict[str, Any]:
    """Describe an RVC file without building a model (for ``rvclora inspect``).

    Keys: kind (one of :data:`KINDS`), version, sr (Hz), sr_label, f0, n_params, dtype, config (18-item
    list or None), info, epoch (training checkpoints), has_enc_q.
    """
    return describe_checkpoint(safe_torch_load(path, "checkpoint"))


def describe_checkpoint(obj: Any) -> dict[str, Any]:
    """:func:`read_checkpoint_info` for an object already loaded (so callers read a file only once)."""
    from rvclora.models.shapes import infer_config

    kind, sd = _classify(obj)
    desc: dict[str, Any] = {
        "kind": kind,
        "version": None,
        "sr": None,
        "sr_label": None,
        "f0": None,
        "n_params": None,
        "dtype": None,
        "config": None,
        "info": None,
        "epoch": None,
        "has_enc_q": None,
    }
    if sd is None:
        return desc
    desc["n_params"] = sum(int(t.numel()) for t in sd.values())
    desc["dtype"] = str(Counter(t.dtype for t in sd.values()).most_common(1)[0][0]).replace("torch.", "")
    if isinstance(obj, Mapping):
        desc["epoch"] = obj.get("iteration")
    if kind == "rvc-model":
        config = list(obj["config"])
        desc.update(
            config=config,
            info=obj.get("info"),
            version=obj.get("version", "v1"),
            f0=int(obj.get("f0", 1)),
            sr_label=obj.get("sr"),
            has_enc_q=any("enc_q" in k for k in sd),
        )
        try:
            desc["sr"] = parse_sr(config[-1])
        except (ConfigError, IndexError):
            desc["sr"] = None
    elif kind == "rvc-train-G":
        desc["has_enc_q"] = any(k.startswith("enc_q.") for k in sd)
        try:
            cfg = infer_config(sd)
        except (IncompatibleError, ConfigError):  # e.g. the rate is ambiguous: describe what is certain
            desc["f0"] = int("enc_p.emb_pitch.weight" in sd)
            width = int(sd["enc_p.emb_phone.weight"].shape[-1])
            desc["version"] = {256: "v1", 768: "v2"}.get(width)
        else:
            desc.update(
                version=cfg.version, f0=int(cfg.f0), sr=cfg.sr, sr_label=make_sr_label(cfg.sr), config=cfg.to_list()
            )
    else:
        count = len({k.split(".")[1] for k in sd if k.startswith("discriminators.")})
        desc["version"] = {7: "v1", 9: "v2"}.get(count)
    return desc
