"""What an adapter file says about itself, as one type (format: docs/adapter-format.md).

Every writer (training's ``save_lora``, blends, ``compress``, ``compress --resize``) builds an
:class:`AdapterMeta`, and :func:`rvclora.lora.adapter.read_adapter` returns one, so the keys are named here
only. ``from_dict`` reads every file rvclora has written: it folds the per-layer ``ranks`` that compress wrote
before ``LoRAConfig.rank_pattern`` existed into the config, drops an unknown unvoiced-F0 value and keeps keys it
does not know in ``extra``, so a load → save round trip loses nothing. Torch-free: ``inspect`` and the workspace
code read it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from rvclora.lora.config import LoRAConfig
from rvclora.workspace.schema import UNVOICED_F0

FORMAT = "rvclora.lora"
#: Version 1: one branch scale for every layer. Version 2: layers of one adapter scale differently (a
#: ``rank_pattern`` whose alphas do not keep the config's scale); older rvclora would apply one scale to all and
#: so refuses such files ("newer than this rvclora reads") instead of converting wrongly.
FORMAT_VERSION = 2
SINGLE_SCALE_VERSION = 1
# Names under which adapters record the base model and the workspace in ``info`` (older ones first used the
# second and third names of the base): the first one set wins.
BASE_KEYS = ("base", "base_path", "base_model")
WORKSPACE_KEYS = ("workspace", "workspace_path")
_KNOWN = {
    "format",
    "format_version",
    "config",
    "scale",
    "layers",
    "conv_transpose_order",
    "ranks",
    "rvc",
    "unvoiced_f0",
    "base_fingerprint",
    "created",
    "info",
    "dtype",
    "params",
}


def utc_now() -> str:
    """Creation stamp of files rvclora writes (UTC, seconds, ISO 8601 with Z)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class RvcIdentity:
    """The RVC model an adapter was made on: version (v1/v2), sample rate and pitch flag (None: unknown)."""

    version: str | None = None
    sr: int | None = None
    f0: bool | None = None

    @classmethod
    def of(cls, model: Any) -> RvcIdentity:
        """From ``model.config`` when the synthesizer carries one."""
        cfg = getattr(model, "config", None)
        sr = getattr(cfg, "sr", None) or getattr(cfg, "sampling_rate", None)
        f0 = getattr(cfg, "f0", None)
        return cls(getattr(cfg, "version", None), sr, None if f0 is None else bool(f0))

    @classmethod
    def from_dict(cls, data: Any) -> RvcIdentity:
        data = data if isinstance(data, Mapping) else {}
        return cls(data.get("version"), data.get("sr"), data.get("f0"))


@dataclass(kw_only=True)
class AdapterMeta:
    """An adapter's metadata. ``scale`` is the branch scale of a layer at the config's own rank and alpha; a
    layer that ``config.rank_pattern``/``alpha_pattern`` shape differently scales by the same factor relative
    to its own alpha/rank (:meth:`layer_scale`)."""

    config: LoRAConfig
    scale: float
    layers: dict[str, str]  # module path -> layer kind (linear, embedding, conv1d, conv_transpose1d)
    conv_transpose_order: dict[str, str] = field(default_factory=dict)  # module path -> factor order
    rvc: RvcIdentity = field(default_factory=RvcIdentity)
    base_fingerprint: str | None = None
    unvoiced_f0: str | None = None  # zero/fill: the convention of the training pitch; None when not recorded
    info: dict[str, Any] = field(default_factory=dict)  # free provenance (training figures, blend parts, …)
    created: str | None = field(default_factory=utc_now)
    format_version: int = SINGLE_SCALE_VERSION  # as read; a write stores the lowest version that can say it
    dtype: str | None = None  # storage dtype and parameter count, filled in when the file is written
    params: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this rvclora does not know, kept as they were

    def layer_scale(self, path: str) -> float:
        """The branch scale of the layer at ``path``."""
        ratio = self.config.scale_for(path) / self.config.scale
        return self.scale if math.isclose(ratio, 1.0, rel_tol=1e-9) else self.scale * ratio

    @property
    def single_scale(self) -> bool:
        """Do all layers scale alike (what a version-1 reader assumes)?"""
        return all(self.layer_scale(p) == self.scale for p in self.layers)

    @property
    def recorded_base(self) -> str | None:
        """The base model path the adapter recorded (older adapters: an absolute path), if any."""
        return _first(self.info, BASE_KEYS)

    @property
    def recorded_workspace(self) -> str | None:
        """The workspace folder older adapters recorded (newer ones are found next to their workspace)."""
        return _first(self.info, WORKSPACE_KEYS)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object stored in the file (``to_json`` as text)."""
        out: dict[str, Any] = {
            **self.extra,
            "format": FORMAT,
            "format_version": SINGLE_SCALE_VERSION if self.single_scale else FORMAT_VERSION,
            "config": self.config.to_dict(),
            "scale": self.scale,
            "layers": dict(self.layers),
            "conv_transpose_order": dict(self.conv_transpose_order),
            "rvc": asdict(self.rvc),
            "base_fingerprint": self.base_fingerprint,
            "created": self.created,
            "info": self.info,
        }
        if self.unvoiced_f0 is not None:
            out["unvoiced_f0"] = self.unvoiced_f0
        if self.dtype is not None:
            out["dtype"] = self.dtype
        if self.params is not None:
            out["params"] = self.params
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=str)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AdapterMeta:
        """Metadata of a file of any format version this rvclora reads (the caller has checked ``format``)."""
        config = LoRAConfig.from_dict(_mapping(data.get("config")))
        scale = float(data["scale"]) if "scale" in data else config.scale
        ranks = _mapping(data.get("ranks"))
        if ranks and not config.rank_pattern:  # compress before rank_pattern: per-layer ranks beside the config
            config = config.with_layer_ranks({str(p): int(r) for p, r in ranks.items()})
        unvoiced = data.get("unvoiced_f0")
        return cls(
            config=config,
            scale=scale,
            layers={str(k): str(v) for k, v in _mapping(data.get("layers")).items()},
            conv_transpose_order={str(k): str(v) for k, v in _mapping(data.get("conv_transpose_order")).items()},
            rvc=RvcIdentity.from_dict(data.get("rvc")),
            base_fingerprint=_text(data.get("base_fingerprint")) or None,
            unvoiced_f0=unvoiced if unvoiced in UNVOICED_F0 else None,
            info=dict(_mapping(data.get("info"))),
            created=_text(data.get("created")),
            format_version=int(data.get("format_version", 0)),
            dtype=data.get("dtype"),
            params=data.get("params"),
            extra={k: v for k, v in data.items() if k not in _KNOWN},
        )

    @classmethod
    def from_json(cls, text: str) -> AdapterMeta:
        return cls.from_dict(json.loads(text))


def blend_unvoiced_f0(metas: Sequence[AdapterMeta], weights: Sequence[float]) -> str | None:
    """A blend's convention: that of the part with the largest weight among those that recorded one (the
    first of equals), since one pitch track feeds the whole blend."""
    recorded = [(w, -i, m.unvoiced_f0) for i, (m, w) in enumerate(zip(metas, weights, strict=False)) if m.unvoiced_f0]
    return max(recorded)[2] if recorded else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _first(info: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if info.get(key):
            return str(info[key])
    return None
