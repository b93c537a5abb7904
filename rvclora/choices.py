"""Every fixed choice of rvclora, defined once, as a ``str``-valued Enum.

A member's value is the string written in ``rvclora.yaml``, adapter metadata and JSON, so ``Precision.fp16 ==
"fp16"`` and a member stands wherever such a string did. The workspace schema lists these values, the library
checks against them (:meth:`Choice.parse`: one message for an unknown value everywhere), and the CLI declares
its options with them, so ``--help`` shows them as choices. Torch-free: ``rvclora --help`` imports it.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

C = TypeVar("C", bound="Choice")


class Choice(str, Enum):
    """A fixed set of strings. Subclasses name what they choose (``label``) for error messages."""

    label: str

    def __init_subclass__(cls, label: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.label = label

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(str(m.value) for m in cls)

    @classmethod
    def normalise(cls, text: str) -> str:
        """How a typed value is compared with the choices: case and surrounding spaces do not count."""
        return text.strip().lower()

    @classmethod
    def parse(cls: type[C], value: Any) -> C:
        """The member for ``value`` (a member or its string); anything else is one ConfigError naming the choices."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            wanted = cls.normalise(value)
            for member in cls:
                if cls.normalise(member.value) == wanted:
                    return member
        from rvclora.errors import ConfigError

        raise ConfigError(f"unknown {cls.label} {value!r}", f"use one of: {', '.join(cls.values())}")


class SampleRate(Choice, label="sample rate"):
    """Model sample rates RVC trains at (a model's ``sr`` label)."""

    r32k = "32k"
    r40k = "40k"
    r48k = "48k"

    @property
    def hz(self) -> int:
        return int(self.value[:-1]) * 1000


class ModelVersion(Choice, label="model version"):
    """RVC model version: v1 (256-d content features) or v2 (768-d)."""

    v1 = "v1"
    v2 = "v2"


class F0Method(Choice, label="F0 method"):
    """Pitch estimators (rvclora.features.f0 builds each)."""

    rmvpe = "rmvpe"
    harvest = "harvest"
    dio = "dio"
    pm = "pm"
    crepe = "crepe"
    fcpe = "fcpe"


class F0Setting(Choice, label="F0 method"):
    """The ``f0_method`` setting: an estimator (:class:`F0Method`), or auto = rmvpe when an RMVPE file is
    configured, else harvest. Its members after ``auto`` are F0Method's (a test keeps them equal)."""

    auto = "auto"
    rmvpe = "rmvpe"
    harvest = "harvest"
    dio = "dio"
    pm = "pm"
    crepe = "crepe"
    fcpe = "fcpe"


class UnvoicedF0(Choice, label="unvoiced F0 convention"):
    """F0 on unvoiced frames: 0 Hz (older RVC and its pretrained bases) or interpolated (RVC main, 2026)."""

    zero = "zero"
    fill = "fill"


class Precision(Choice, label="precision"):
    """Arithmetic of the models while they run; auto is resolved by :func:`rvclora.devices.resolve_precision`."""

    auto = "auto"
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"

    @property
    def torch_name(self) -> str:
        """The torch dtype's name (``float16`` ...); auto has none until resolved."""
        return {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}[self.value]


class Backend(Choice, label="backend"):
    """What runs the fast path's decoder (:mod:`rvclora.infer.backends`); auto = onednn on CPU fp32 (onnx
    where torch lacks oneDNN and onnxruntime is installed), torch elsewhere."""

    auto = "auto"
    torch = "torch"
    onednn = "onednn"
    onnx = "onnx"


class StoragePrecision(Choice, label="storage precision"):
    """Precision of weights written to a file (RVC models, compressed adapters)."""

    fp16 = "fp16"
    fp32 = "fp32"


class TargetPreset(Choice, label="LoRA target preset"):
    """Named LoRA target sets; their module patterns are :data:`rvclora.lora.config.PRESETS`."""

    voice = "voice"
    decoder = "decoder"
    flow = "flow"
    encoder = "encoder"
    decoder_flow = "decoder+flow"
    all = "all"


class McdStyle(Choice, label="MCD style"):
    """Which MCD convention ``mcd_db`` follows (docs/metrics.md)."""

    classic = "classic"  # SPTK/WORLD: order 24, alpha fitted to the rate, c0 excluded
    pymcd = "pymcd"  # pymcd's parameters (as RVCBench): order 13, alpha 0.65, c0 included, 1e-8 floor


class Align(Choice, label="alignment"):
    """How frames of the two files are matched before frame-wise metrics."""

    dtw = "dtw"  # dynamic time warping on mel-cepstra: for recordings that are not time-aligned
    time = "time"  # frame i with frame i, cut to the shorter file: for conversions of the reference itself


class AudioFormat(Choice, label="output format"):
    """Output file types (extensions); which ones this machine's libsndfile can write is asked at run time."""

    wav = "wav"
    flac = "flac"
    ogg = "ogg"
    mp3 = "mp3"
    aiff = "aiff"
    aif = "aif"

    @classmethod
    def normalise(cls, text: str) -> str:
        return super().normalise(text).lstrip(".")

    @property
    def soundfile_format(self) -> str:
        return "AIFF" if self is AudioFormat.aif else self.value.upper()


class PcmSample(Choice, label="raw sample format"):
    """Sample encodings of headerless PCM on a pipe (``rvclora stream --raw``)."""

    s16le = "s16le"
    f32le = "f32le"
