"""Conversion settings and their defaults (torch-free: the CLI's ``--help`` and the docs read them here).

Defaults are upstream's WebUI defaults (rvc-interop.md §8), so a converted file sounds the way RVC users
expect without flags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rvclora.choices import UnvoicedF0
from rvclora.errors import ConfigError

if TYPE_CHECKING:
    from rvclora.infer.chunking import ChunkConfig


@dataclass(frozen=True)
class ConvertOptions:
    """What a conversion does to one input (per call, so one loaded Converter can serve many settings)."""

    pitch: float = 0.0  # semitones
    f0_file: Path | None = None  # CSV "time_s,f0_Hz" overriding the estimated pitch
    index_rate: float = 0.75  # share of retrieved training features (0 = off)
    protect: float = 0.33  # 0.5 = off; lower keeps more of the input's consonants/breaths
    filter_radius: int = 3  # > 2: median-filter harvest pitch (upstream uses it for harvest only)
    rms_mix_rate: float = 0.25  # 1 = keep the model's loudness, 0 = follow the input's envelope
    resample_sr: int = 0  # >= 16000 and != model rate: resample the output
    speaker_id: int = 0
    # F0 on unvoiced frames: "zero" or "fill" (interpolated, RVC main); None = each voice's own: the adapter's
    # training convention, else the configured default (setting unvoiced_f0). See docs/inference.md.
    unvoiced_f0: str | None = None
    seed: int | None = 0  # noise of the flow and the NSF excitation; None = fresh noise every run (upstream)

    def __post_init__(self) -> None:
        checks = (
            (0.0 <= self.index_rate <= 1.0, "--index-rate must be between 0 and 1"),
            (0.0 <= self.protect <= 0.5, "--protect must be between 0 and 0.5"),
            (0.0 <= self.rms_mix_rate <= 1.0, "--rms-mix-rate must be between 0 and 1"),
            (0 <= self.filter_radius <= 7, "--filter-radius must be between 0 and 7"),
            (self.resample_sr == 0 or 16000 <= self.resample_sr <= 192000, "--resample-sr must be 0 or 16000..192000"),
            (self.speaker_id >= 0, "--speaker-id must not be negative"),
            (-48 <= self.pitch <= 48, "--pitch must be within ±48 semitones"),
            (
                self.unvoiced_f0 in (None, *UnvoicedF0.values()),
                f"--unvoiced-f0 must be {' or '.join(UnvoicedF0.values())}",
            ),
            (self.seed is None or 0 <= self.seed < 2**63, "--seed must be between 0 and 2^63-1 (or -1 for random)"),
        )
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def with_(self, **changes: Any) -> ConvertOptions:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["f0_file"] = str(self.f0_file) if self.f0_file else None
        return d


DEFAULTS = ConvertOptions()


@dataclass(frozen=True)
class ConverterConfig:
    """What a :class:`~rvclora.infer.converter.Converter` loads (once, for any number of inputs); checked when
    it loads. The keywords of ``Converter(...)`` are these fields; see its docstring for each."""

    lora: Sequence[Path] = ()  # adapter(s): blended into one voice, or one voice each with ``each``
    weights: str | Sequence[float | str] | None = None  # blend shares, numbers or "0.7,0.3" (default equal)
    scale: float = 1.0  # adapter strength
    each: bool = False
    model: Path | None = None  # a plain RVC model instead of adapters
    base: Path | None = None  # default: the base recorded in the adapter
    index: Path | None = None  # default: the adapter workspace's
    hubert: Path | None = None
    rmvpe: Path | None = None
    f0_method: str | None = None
    device: str | None = None
    precision: str = "auto"
    chunking: ChunkConfig | None = field(default=None, compare=False)
    force: bool = False  # load adapters even if they do not fit the base
    fast: bool = True  # the optimised path; False runs the models as loaded (the reference)
    backend: str = "auto"  # what runs the fast path's decoder: auto, torch, onednn, onnx (rvclora.infer.backends)

    def __post_init__(self) -> None:
        # choices arrive as Enum members from the CLI; the converter keeps (and records) their plain strings
        for name in ("f0_method", "precision", "backend"):
            value = getattr(self, name)
            if isinstance(value, Enum):
                object.__setattr__(self, name, value.value)
