"""The workspace schema: the ONE place where every setting, its type, default, choices and comment live.

The CLI (``--help`` defaults), the Python API (:class:`~rvclora.workspace.Workspace`), the text of each
``rvclora.yaml`` and ``docs/workspace.md`` are all generated from :data:`SCHEMA`, so they cannot drift apart.
LoRA keys are read from :class:`rvclora.lora.config.LoRAConfig` itself rather than restated here.
This module stays light (no numpy/torch) because ``rvclora --help`` imports it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rvclora.choices import F0Setting, ModelVersion, Precision, SampleRate, UnvoicedF0
from rvclora.lora.config import PRESETS, LoRAConfig

# Value kinds a key can have; each has a checker in rvclora.workspace.settings.
KINDS = ("int", "float", "bool", "str", "path", "floats", "strs", "str_or_strs")

SAMPLE_RATES = {rate.value: rate.hz for rate in SampleRate}
UNVOICED_F0 = UnvoicedF0.values()
DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d+)?"
# Learning rates used when train.lr is null: an adapter's, and RVC's for full fine-tuning.
LORA_LR = 5e-4
FULL_LR = 1e-4


@dataclass(frozen=True)
class Key:
    """One setting. ``nullable`` keys accept null (meaning "not set here"); ``pattern`` is a full-match regex."""

    name: str
    kind: str
    default: Any
    comment: str
    choices: tuple[Any, ...] | None = None
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind


@dataclass(frozen=True)
class Section:
    """A nested mapping of keys (``preprocess:``, ``train:`` ...)."""

    name: str
    comment: str
    keys: tuple[Key, ...]


TOP: tuple[Key, ...] = (
    Key("sr", "str", "40k", "model sample rate; clips are written at this rate", choices=SampleRate.values()),
    Key(
        "version",
        "str",
        "v2",
        "RVC model version: v1 (256-d content features) or v2 (768-d)",
        choices=ModelVersion.values(),
    ),
    Key("f0", "bool", True, "pitch-guided model (RVC 'f0' bases); false for the no-pitch variant"),
    Key("input", "path", "raw", "folder of source recordings; subfolders = speakers (see docs/workspace.md)"),
    Key(
        "speaker_id",
        "int",
        0,
        "speaker id for files directly in the input folder (RVC bases have 109)",
        minimum=0,
        maximum=108,
    ),
    Key("device", "str", "auto", "auto, cpu, mps, cuda or cuda:N; auto = best available", pattern=DEVICE_PATTERN),
    Key(
        "f0_method",
        "str",
        "auto",
        "pitch extractor; auto = rmvpe when assets.rmvpe is set, else harvest",
        choices=F0Setting.values(),
    ),
    Key(
        "unvoiced_f0",
        "str",
        "zero",
        "pitch on unvoiced frames: 0 Hz as older RVC, or filled in as RVC main does (docs/inference.md)",
        choices=UnvoicedF0.values(),
    ),
)

ASSETS = Section(
    "assets",
    "model files; null = not set here (the user config or $RVCLORA_* may set it)",
    (
        Key("base", "path", None, "pretrained generator, e.g. pretrained_v2/f0G40k.pth", nullable=True),
        Key("base_d", "path", None, "pretrained discriminator, e.g. pretrained_v2/f0D40k.pth", nullable=True),
        Key("hubert", "path", None, "content encoder hubert_base.pt (ContentVec)", nullable=True),
        Key("rmvpe", "path", None, "RMVPE pitch model rmvpe.pt", nullable=True),
    ),
)

PREPROCESS = Section(
    "preprocess",
    "cutting raw recordings into training clips (RVC's numbers)",
    (
        Key("threshold_db", "float", -42.0, "RMS below this level (dBFS) counts as silence", maximum=0.0),
        Key("min_length_ms", "int", 1500, "a slice is at least this long before a silence may end it", minimum=1),
        Key("min_interval_ms", "int", 400, "shortest silence that splits a slice", minimum=1),
        Key("hop_ms", "int", 15, "RMS hop of the silence detector", minimum=1),
        Key("max_sil_kept_ms", "int", 500, "silence kept around each cut", minimum=0),
        Key("window_s", "float", 3.7, "clip length; RVC uses 3.0 on small GPUs", minimum=0.5),
        Key("overlap_s", "float", 0.3, "overlap between consecutive clips of one slice", minimum=0.0),
        Key(
            "peak_limit",
            "float",
            2.5,
            "clips whose peak exceeds this are dropped (broken or clipped audio)",
            minimum=0.0,
        ),
        Key("norm_max", "float", 0.9, "peak level of the normalised part of a clip", minimum=0.0, maximum=1.0),
        Key(
            "norm_alpha",
            "float",
            0.75,
            "mix: alpha * peak-normalised + (1 - alpha) * original",
            minimum=0.0,
            maximum=1.0,
        ),
        Key("highpass_hz", "float", 48.0, "Butterworth order-5 high-pass cutoff (removes rumble and DC)", minimum=1.0),
        Key(
            "min_clip_s",
            "float",
            1.0,
            "shorter clips are dropped (RVC's trainer ignores clips under ~0.75 s)",
            minimum=0.0,
        ),
        Key("workers", "int", 0, "parallel processes; 0 = one per CPU core (at most 8), 1 = in-process", minimum=0),
    ),
)

EXTRACT = Section(
    "extract",
    "content features, pitch and the retrieval index",
    (
        Key("batch_size", "int", 8, "clips per content-encoder batch", minimum=1),
        Key("build_index", "bool", True, "build the faiss retrieval index after extracting features"),
    ),
)

TRAIN = Section(
    "train",
    "adapter training (RVC's values unless the comment says otherwise)",
    (
        Key(
            "epochs",
            "int",
            100,
            "passes over the clips (an adapter needs more than RVC's 20 full fine-tune epochs)",
            minimum=1,
        ),
        Key(
            "max_steps",
            "int",
            None,
            "stop after this many optimizer steps; null = no limit (--max-steps 0 clears it)",
            nullable=True,
            minimum=1,
        ),
        Key("batch_size", "int", 4, "clips per step", minimum=1),
        Key(
            "lr",
            "float",
            None,
            f"learning rate; null = {LORA_LR:g} for an adapter (LoRA factors start near zero and "
            f"train few parameters, so they need a larger step), {FULL_LR:g} with full (RVC's fine-tune)",
            nullable=True,
            minimum=0.0,
        ),
        Key("lr_decay", "float", 0.999875, "exponential learning-rate decay per epoch", minimum=0.0, maximum=1.0),
        Key("betas", "floats", [0.8, 0.99], "AdamW betas"),
        Key("eps", "float", 1e-9, "AdamW epsilon", minimum=0.0),
        Key("weight_decay", "float", 0.01, "AdamW weight decay (upstream leaves AdamW's default 0.01 on)", minimum=0.0),
        Key("c_mel", "float", 45.0, "weight of the mel L1 loss", minimum=0.0),
        Key("c_kl", "float", 1.0, "weight of the KL loss", minimum=0.0),
        Key("save_every", "int", 10, "save a checkpoint every N epochs", minimum=1),
        Key("keep", "int", 3, "checkpoints kept on disk (older ones are deleted)", minimum=1),
        Key("seed", "int", 1234, "random seed"),
        Key("val_fraction", "float", 0.05, "share of clips held out for validation", minimum=0.0, maximum=0.5),
        Key("early_stopping_patience", "int", 0, "stop after N epochs without validation gain; 0 = off", minimum=0),
        Key(
            "precision",
            "str",
            "auto",
            "auto = bf16/fp16 on capable GPUs, fp32 on CPU",
            choices=Precision.values(),
        ),
        Key(
            "lora_plus_ratio", "float", 1.0, "LoRA+: learning rate of B = ratio x lr of A; 1 = plain LoRA", minimum=1.0
        ),
        Key(
            "cache",
            "bool",
            False,
            "keep clips on the training device (GPU) after their first load, like RVC's cache option",
        ),
        Key("full", "bool", False, "train the whole generator like RVC instead of an adapter"),
        Key("log_every", "int", 200, "log losses to TensorBoard every N steps", minimum=1),
    ),
)

# Comments for LoRAConfig fields, used only when the dataclass field carries no metadata["help"].
_LORA_COMMENTS = {
    "rank": "rank r of each low-rank update",
    "alpha": "scale = alpha / rank (alpha / sqrt(rank) with rslora)",
    "dropout": "dropout on the adapter branch input",
    "targets": f"preset ({', '.join(PRESETS)}) or a list of module-path patterns",
    "exclude": "module-path patterns left out of the targets",
    "rslora": "rank-stabilised scaling alpha / sqrt(rank)",
    "full_modules": "small modules trained fully and stored whole (e.g. the speaker embedding)",
}
_ANNOTATION_KINDS = {
    "int": "int",
    "float": "float",
    "bool": "bool",
    "str": "str",
    "list[str]": "strs",
    "str | list[str]": "str_or_strs",
    "list[float]": "floats",
}


def _lora_section() -> Section:
    """Build the ``lora:`` section from LoRAConfig's fields so its defaults are never restated here."""
    keys = []
    for f in dataclasses.fields(LoRAConfig):
        if f.metadata.get("setting") is False:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            continue
        annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        nullable = annotation.endswith(" | None")
        kind = _ANNOTATION_KINDS.get(annotation.removesuffix(" | None"), "str")
        comment = f.metadata.get("help") or _LORA_COMMENTS.get(f.name, "see rvclora.lora.config.LoRAConfig")
        keys.append(Key(f.name, kind, default, comment, nullable=nullable or default is None))
    return Section("lora", "adapter shape (defaults from rvclora.lora.config.LoRAConfig)", tuple(keys))


SECTIONS: tuple[Section, ...] = (ASSETS, PREPROCESS, EXTRACT, _lora_section(), TRAIN)
SECTION_NAMES = tuple(s.name for s in SECTIONS)

# Settings the environment may set, and the keys they map to.
ENV_VARS = {
    "RVCLORA_BASE": "assets.base",
    "RVCLORA_BASE_D": "assets.base_d",
    "RVCLORA_HUBERT": "assets.hubert",
    "RVCLORA_RMVPE": "assets.rmvpe",
    "RVCLORA_DEVICE": "device",
}
# Values that mean "not decided in this file": lower layers (user config, environment) fill them in.
UNSET_VALUES = (None, "auto")


def iter_keys() -> Iterator[tuple[str, Key]]:
    """Every key with its dotted name (``sr``, ``preprocess.window_s`` ...), in file order."""
    for k in TOP:
        yield k.name, k
    for s in SECTIONS:
        for k in s.keys:
            yield f"{s.name}.{k.name}", k


KEYS: dict[str, Key] = dict(iter_keys())


def defaults() -> dict[str, Any]:
    """Flat ``{dotted name: default}`` (lists copied so callers may mutate them)."""
    return {name: (list(k.default) if isinstance(k.default, list) else k.default) for name, k in KEYS.items()}


def default(name: str) -> Any:
    """The default of one dotted key, e.g. ``default("preprocess.window_s")``."""
    return KEYS[name].default


def schema_markdown() -> str:
    """The settings table of docs/workspace.md (a test keeps the doc equal to this)."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, k in KEYS.items():
        kind = k.kind + (" or null" if k.nullable else "")
        if k.choices:
            kind += ": " + " / ".join(str(c) for c in k.choices)
        shown = "null" if k.default is None else str(k.default).lower() if isinstance(k.default, bool) else k.default
        rows.append(f"| `{name}` | {kind} | `{shown}` | {k.comment.replace('|', '/')} |")
    return "\n".join(rows) + "\n"
