"""Conversion settings and their defaults (torch-free: the CLI's ``--help`` and the docs read them here).

Defaults are upstream's WebUI defaults (rvc-interop.md §8), so a converted file sounds the way RVC users
expect without flags.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rvclora.errors import ConfigError
from rvclora.workspace.schema import UNVOICED_F0

F0_METHODS = ("rmvpe", "harvest", "pm", "crepe", "fcpe")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
# what runs the synthesizer's decoder (rvclora.infer.backends): auto = onnx on CPU fp32 when installed
BACKENDS = ("auto", "torch", "onnx")


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
            (self.unvoiced_f0 in (None, *UNVOICED_F0), f"--unvoiced-f0 must be {' or '.join(UNVOICED_F0)}"),
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
