"""Synthesizer and training front-end configurations (torch-free).

RVC stores a model's architecture as the 18 positional constructor arguments of its synthesizer class
(the ``config`` list of an inference ``.pth``). :class:`SynthConfig` names those fields and adds the two
facts the list leaves out — the content-feature version and whether the model is pitch-conditioned.
The standard tables mirror RVC's five ``configs/v{1,2}/<sr>.json`` files (v2-40k uses the v1 file),
so training, the mel front end and checkpoint loading all read their numbers from one place.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rvclora.errors import ConfigError

VERSIONS = ("v1", "v2")
#: content-feature width per version: HuBERT layer 9 + final_proj (v1) or layer 12 (v2)
CONTENT_DIM = {"v1": 256, "v2": 768}
#: every RVC configuration runs at 100 latent frames per second
FRAMES_PER_SECOND = 100
#: the segment entry RVC's savee() writes into inference configs (not the training segment)
SAVED_SEGMENT_SIZE = 32

# The 18 positional fields, in RVC's constructor/config-list order.
POSITIONAL_FIELDS = (
    "spec_channels",
    "segment_size",
    "inter_channels",
    "hidden_channels",
    "filter_channels",
    "n_heads",
    "n_layers",
    "kernel_size",
    "p_dropout",
    "resblock",
    "resblock_kernel_sizes",
    "resblock_dilation_sizes",
    "upsample_rates",
    "upsample_initial_channel",
    "upsample_kernel_sizes",
    "spk_embed_dim",
    "gin_channels",
    "sr",
)


def parse_sr(sr: int | str) -> int:
    """Accept 40000, "40000", "40k" (and "44.1k"); return the rate in Hz."""
    if isinstance(sr, bool):
        raise ConfigError(f"invalid sample rate {sr!r}", "use 32k, 40k or 48k (or a rate in Hz)")
    if isinstance(sr, int):
        value = sr
    else:
        text = str(sr).strip().lower()
        try:
            value = round(float(text[:-1]) * 1000) if text.endswith("k") else int(float(text))
        except ValueError:
            raise ConfigError(f"invalid sample rate {sr!r}", "use 32k, 40k or 48k (or a rate in Hz)") from None
    if value <= 0:
        raise ConfigError(f"invalid sample rate {sr!r}", "use 32k, 40k or 48k (or a rate in Hz)")
    return value


def sr_label(sr: int | str) -> str:
    """RVC's sample-rate string for a rate: 40000 -> "40k" (44100 -> "44.1k")."""
    value = parse_sr(sr)
    return f"{value // 1000}k" if value % 1000 == 0 else f"{value / 1000:g}k"


def _check_version(version: str) -> str:
    if version not in VERSIONS:
        raise ConfigError(f"unknown RVC version {version!r}", "use v1 or v2")
    return version


@dataclass
class SynthConfig:
    """The architecture of one RVC synthesizer: RVC's 18 config fields + version + pitch flag.

    ``segment_size`` is in latent frames (training slice length); ``sr`` is an int in Hz.
    """

    spec_channels: int
    segment_size: int
    inter_channels: int
    hidden_channels: int
    filter_channels: int
    n_heads: int
    n_layers: int
    kernel_size: int
    p_dropout: float
    resblock: str
    resblock_kernel_sizes: list[int]
    resblock_dilation_sizes: list[list[int]]
    upsample_rates: list[int]
    upsample_initial_channel: int
    upsample_kernel_sizes: list[int]
    spk_embed_dim: int
    gin_channels: int
    sr: int
    version: str = "v2"
    f0: bool = True

    def __post_init__(self) -> None:
        self.sr = parse_sr(self.sr)
        self.version = _check_version(self.version)
        self.f0 = bool(self.f0)
        self.resblock = str(self.resblock)
        self.resblock_kernel_sizes = [int(k) for k in self.resblock_kernel_sizes]
        self.resblock_dilation_sizes = [[int(d) for d in ds] for ds in self.resblock_dilation_sizes]
        self.upsample_rates = [int(u) for u in self.upsample_rates]
        self.upsample_kernel_sizes = [int(k) for k in self.upsample_kernel_sizes]
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ConfigError(
                "upsample_rates and upsample_kernel_sizes differ in length", "give one kernel size per upsample stage"
            )
        if self.resblock not in ("1", "2"):
            raise ConfigError(f"unknown resblock type {self.resblock!r}", 'use "1" (all RVC configs) or "2"')

    @property
    def content_dim(self) -> int:
        """Width of the content features the text encoder takes (256 for v1, 768 for v2)."""
        return CONTENT_DIM[self.version]

    @property
    def hop_length(self) -> int:
        """Audio samples per latent frame (product of the upsample rates)."""
        hop = 1
        for u in self.upsample_rates:
            hop *= u
        return hop

    def to_list(self, segment_size: int | None = None) -> list[Any]:
        """The 18-item config list of an inference file (``segment_size`` replaces element 2 if given)."""
        values = [getattr(self, name) for name in POSITIONAL_FIELDS]
        if segment_size is not None:
            values[1] = segment_size
        p = values[8]
        values[8] = int(p) if float(p).is_integer() else float(p)
        return [list(v) if isinstance(v, list) else v for v in values]

    @classmethod
    def from_list(cls, lst: list[Any] | tuple[Any, ...], version: str = "v1", f0: bool | int = True) -> SynthConfig:
        """Build from an inference file's 18-item config list (``sr`` may be "40k" or an int)."""
        if not isinstance(lst, (list, tuple)) or len(lst) != len(POSITIONAL_FIELDS):
            n = len(lst) if isinstance(lst, (list, tuple)) else type(lst).__name__
            raise ConfigError(f"an RVC config list has 18 items, got {n}", "the model file is not an RVC model")
        try:
            return cls(**dict(zip(POSITIONAL_FIELDS, lst, strict=True)), version=version, f0=bool(f0))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid RVC config list: {exc}", "the model file is not an RVC model") from exc

    def replace(self, **changes: Any) -> SynthConfig:
        """A copy with some fields changed (unknown names are a ConfigError)."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(
                f"unknown synthesizer setting(s): {', '.join(unknown)}", f"known: {', '.join(sorted(known))}"
            )
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class FrontEndConfig:
    """Training-time audio front end of one sample rate (RVC's ``data`` and ``train.segment_size``)."""

    sr: int
    filter_length: int
    hop_length: int
    win_length: int
    n_mel_channels: int
    segment_samples: int
    mel_fmin: float = 0.0
    mel_fmax: float | None = None

    @property
    def spec_channels(self) -> int:
        return self.filter_length // 2 + 1

    @property
    def segment_frames(self) -> int:
        return self.segment_samples // self.hop_length


FRONT_ENDS: dict[int, FrontEndConfig] = {
    32000: FrontEndConfig(32000, 1024, 320, 1024, 80, 12800),
    40000: FrontEndConfig(40000, 2048, 400, 2048, 125, 12800),
    48000: FrontEndConfig(48000, 2048, 480, 2048, 128, 11520),
}
# v2/48k trains on a longer slice than v1/48k; everything else about the front end is shared.
_SEGMENT_OVERRIDES = {("v2", 48000): 17280}

_GEOMETRY = {  # (version, sr) -> (upsample_rates, upsample_kernel_sizes)
    ("v1", 32000): ([10, 4, 2, 2, 2], [16, 16, 4, 4, 4]),
    ("v1", 40000): ([10, 10, 2, 2], [16, 16, 4, 4]),
    ("v1", 48000): ([10, 6, 2, 2, 2], [16, 16, 4, 4, 4]),
    ("v2", 32000): ([10, 8, 2, 2], [20, 16, 4, 4]),
    ("v2", 40000): ([10, 10, 2, 2], [16, 16, 4, 4]),  # v2-40k trains with configs/v1/40k.json
    ("v2", 48000): ([12, 10, 2, 2], [24, 20, 4, 4]),
}


def front_end(sr: int | str, version: str = "v2") -> FrontEndConfig:
    """The training front end (STFT sizes, mel bands, segment) for a standard rate."""
    rate = parse_sr(sr)
    base = FRONT_ENDS.get(rate)
    if base is None:
        raise ConfigError(f"no standard RVC front end for {rate} Hz", "use 32k, 40k or 48k")
    seg = _SEGMENT_OVERRIDES.get((_check_version(version), rate))
    return base if seg is None else dataclasses.replace(base, segment_samples=seg)


def _standard(version: str, sr: int) -> SynthConfig:
    rates, kernels = _GEOMETRY[(version, sr)]
    fe = front_end(sr, version)
    return SynthConfig(
        spec_channels=fe.spec_channels,
        segment_size=fe.segment_frames,
        inter_channels=192,
        hidden_channels=192,
        filter_channels=768,
        n_heads=2,
        n_layers=6,
        kernel_size=3,
        p_dropout=0,
        resblock="1",
        resblock_kernel_sizes=[3, 7, 11],
        resblock_dilation_sizes=[[1, 3, 5]] * 3,
        upsample_rates=rates,
        upsample_initial_channel=512,
        upsample_kernel_sizes=kernels,
        spk_embed_dim=109,
        gin_channels=256,
        sr=sr,
        version=version,
        f0=True,
    )


#: (version, sr) -> the standard configuration (f0 on); use :func:`standard_config` for copies
STANDARD_CONFIGS: dict[tuple[str, int], SynthConfig] = {key: _standard(*key) for key in _GEOMETRY}


def standard_config(version: str, sr: int | str, f0: bool = True) -> SynthConfig:
    """A fresh copy of RVC's standard configuration for (version, rate, pitch)."""
    key = (_check_version(version), parse_sr(sr))
    if key not in STANDARD_CONFIGS:
        raise ConfigError(f"no standard RVC config for {version} at {key[1]} Hz", "use 32k, 40k or 48k")
    return STANDARD_CONFIGS[key].replace(f0=bool(f0))
