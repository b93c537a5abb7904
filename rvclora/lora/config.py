"""LoRA configuration and target presets (torch-free: the workspace schema and ``--help`` read it).

Targets are module-path patterns (``fnmatch`` syntax, ``*`` also crosses dots) matched against the
synthesizer's module names, e.g. ``dec.ups.*``. A preset is a named list of patterns.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from rvclora.choices import TargetPreset

# Named target presets. The posterior encoder (enc_q) is never a target: it is training-only and is
# dropped from inference models, so an adapter on it could not change a converted voice.
# "voice" (the default) spends the bytes where the speaker lives: the whole flow (it maps the content prior
# to the speaker's latent, conditioned on the speaker), the decoder's entry/conditioning/upsamplers/exit and
# the kernel-3 resblocks (index 3·stage). The kernel-7/11 resblocks hold ~70 % of a decoder adapter's
# parameters for fine texture the base already renders well. Numbers: docs/adapter-format.md.
PRESETS: dict[str, tuple[str, ...]] = {
    TargetPreset.voice.value: (
        "flow.*",
        "dec.conv_pre",
        "dec.cond",
        "dec.ups.*",
        "dec.resblocks.[0369].*",
        "dec.resblocks.12.*",
        "dec.conv_post",
    ),
    TargetPreset.decoder.value: ("dec.*",),
    TargetPreset.flow.value: ("flow.*",),
    TargetPreset.encoder.value: ("enc_p.*",),
    TargetPreset.decoder_flow.value: ("dec.*", "flow.*"),
    TargetPreset.all.value: ("enc_p.*", "flow.*", "dec.*"),
}
DEFAULT_PRESET = TargetPreset.voice.value


@dataclass
class LoRAConfig:
    """How an adapter is shaped. Scale = alpha / rank (or alpha / sqrt(rank) with ``rslora``).

    ``rank_pattern`` / ``alpha_pattern`` (module-path pattern → rank / alpha, as PEFT's) give some layers their
    own rank or alpha: an exact module path wins, else the first pattern that matches the path or a parent.
    Compress and blends use them for per-layer ranks, with alphas that keep every layer's scale equal.
    """

    rank: int = 8
    alpha: float = 8.0
    dropout: float = 0.0
    targets: str | list[str] = DEFAULT_PRESET
    exclude: list[str] = field(default_factory=list)
    rslora: bool = False
    # Small modules trained fully and stored whole in the adapter (e.g. the speaker embedding).
    full_modules: list[str] = field(default_factory=lambda: ["emb_g"])
    # Per-layer shape (not workspace settings: written by compress and blends, or given through the Python API).
    rank_pattern: dict[str, int] = field(default_factory=dict, metadata={"setting": False})
    alpha_pattern: dict[str, float] = field(default_factory=dict, metadata={"setting": False})

    def __post_init__(self) -> None:
        from rvclora.errors import ConfigError

        for path, rank in self.rank_pattern.items():
            if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
                raise ConfigError(f"LoRA rank_pattern: the rank of {path} must be a positive integer, got {rank!r}")
        for path, alpha in self.alpha_pattern.items():
            if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha <= 0:
                raise ConfigError(f"LoRA alpha_pattern: the alpha of {path} must be positive, got {alpha!r}")

        if not isinstance(self.rank, int) or self.rank < 1:
            raise ConfigError(f"LoRA rank must be a positive integer, got {self.rank!r}")
        if self.alpha <= 0:
            raise ConfigError(f"LoRA alpha must be positive, got {self.alpha!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"LoRA dropout must be in [0, 1), got {self.dropout!r}")
        if isinstance(self.targets, str) and self.targets not in PRESETS and not _looks_like_pattern(self.targets):
            raise ConfigError(
                f"unknown LoRA target preset {self.targets!r}",
                f"use one of {', '.join(PRESETS)} or a list of module-path patterns",
            )

    @property
    def scale(self) -> float:
        """The scale of a layer at ``rank`` and ``alpha`` (one not shaped by a pattern)."""
        return self.alpha / (self.rank**0.5 if self.rslora else self.rank)

    def rank_for(self, module_path: str) -> int:
        return _pattern_value(self.rank_pattern, module_path, self.rank)

    def alpha_for(self, module_path: str) -> float:
        return _pattern_value(self.alpha_pattern, module_path, self.alpha)

    def scale_for(self, module_path: str) -> float:
        """The scale of the layer at ``module_path``: its alpha over its rank (or √rank with ``rslora``)."""
        rank = self.rank_for(module_path)
        return self.alpha_for(module_path) / (rank**0.5 if self.rslora else rank)

    def with_layer_ranks(self, ranks: Mapping[str, int]) -> LoRAConfig:
        """This config with ``ranks`` (module path → rank) in ``rank_pattern`` for the layers whose rank is not
        ``rank``, each with the alpha that keeps this config's scale, so every layer scales alike."""
        pattern = {p: r for p, r in ranks.items() if r != self.rank}
        alphas = {p: self.scale * (r**0.5 if self.rslora else r) for p, r in pattern.items()}
        return replace(self, rank_pattern=pattern, alpha_pattern=alphas)

    def _target_items(self) -> list[str]:
        return [self.targets] if isinstance(self.targets, str) else list(self.targets)

    def target_patterns(self) -> tuple[str, ...]:
        """The patterns, with preset names expanded (a list may mix names and patterns)."""
        return tuple(p for item in self._target_items() for p in PRESETS.get(item, (item,)))

    def matches(self, module_path: str) -> bool:
        """Is ``module_path`` targeted (and not excluded)? A pattern naming a parent covers its children."""
        if module_path.startswith("enc_q.") or module_path == "enc_q":
            return False
        hit = any(path_matches(module_path, p) for p in self.target_patterns())
        return hit and not any(path_matches(module_path, p) for p in self.exclude)

    def unmatched_patterns(self, module_paths: list[str]) -> list[str]:
        """Targets that select none of ``module_paths`` (a typo, or a preset for another model).

        A preset counts as matched when any of its patterns is: presets cover variants (e.g. the fifth
        upsample stage of v1 32k/48k models) that a given model may lack.
        """

        def hit(pattern: str) -> bool:
            return any(path_matches(m, pattern) for m in module_paths)

        return [item for item in self._target_items() if not any(hit(p) for p in PRESETS.get(item, (item,)))]

    def is_full_module(self, module_path: str) -> bool:
        """Is ``module_path`` (or a parent) one of ``full_modules``, trained whole instead of low-rank?"""
        return any(path_matches(module_path, p) for p in self.full_modules)

    def to_dict(self) -> dict[str, Any]:
        """Plain values; empty patterns are left out, so configs without them read as they always did."""
        data = asdict(self)
        for name in ("rank_pattern", "alpha_pattern"):
            if not data[name]:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoRAConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _pattern_value(patterns: Mapping[str, Any], module_path: str, default: Any) -> Any:
    if module_path in patterns:
        return patterns[module_path]
    return next((v for p, v in patterns.items() if path_matches(module_path, p)), default)


def path_matches(module_path: str, pattern: str) -> bool:
    """``fnmatch`` on the path or any of its dotted parents, so ``dec.ups`` covers ``dec.ups.0``."""
    parts = module_path.split(".")
    return any(fnmatch.fnmatchcase(".".join(parts[:i]), pattern) for i in range(len(parts), 0, -1))


def _looks_like_pattern(text: str) -> bool:
    return "." in text or "*" in text
