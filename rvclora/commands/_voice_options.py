"""The voice and streaming options ``rvclora stream`` and ``rvclora live`` share, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rvclora.choices import Backend, F0Setting, Precision
from rvclora.infer.options import DEFAULTS as D
from rvclora.realtime.settings import DEFAULTS as S

LoraOpt = Annotated[list[Path] | None, typer.Option("--lora", "-l", help="Adapter(s); several are blended.")]
WeightsOpt = Annotated[
    list[str] | None, typer.Option("--weights", "-w", help="Blend weights, one per --lora (e.g. 0.7,0.3).")
]
ScaleOpt = Annotated[float, typer.Option("--scale", help="Adapter strength (1 = as trained).")]
ModelOpt = Annotated[Path | None, typer.Option("--model", help="A plain RVC model .pth (no adapter).")]
BaseOpt = Annotated[Path | None, typer.Option("--base", help="Base model (default: the one recorded in the adapter).")]
IndexOpt = Annotated[Path | None, typer.Option("--index", help="Retrieval index (default: the adapter workspace's).")]
HubertOpt = Annotated[Path | None, typer.Option("--hubert", help="Content encoder (default: workspace/user config).")]
RmvpeOpt = Annotated[Path | None, typer.Option("--rmvpe", help="RMVPE pitch model (default: workspace/user config).")]
F0MethodOpt = Annotated[
    F0Setting | None,
    typer.Option("--f0-method", help="Pitch extractor: rmvpe, fcpe, dio or pm (harvest → dio).", show_default=False),
]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="Compute device: auto, cpu, cuda, cuda:N, mps.")]
PrecisionOpt = Annotated[Precision, typer.Option("--precision", help="Model precision; auto = fp16 on GPU.")]
BackendOpt = Annotated[
    Backend,
    typer.Option(
        "--backend",
        help="Decoder engine; auto = onednn on CPU fp32 (onnx if torch lacks oneDNN); torch = plain PyTorch.",
    ),
]
BlockOpt = Annotated[float, typer.Option("--block", help="Seconds converted per step (latency vs CPU load).")]
ContextOpt = Annotated[float, typer.Option("--context", help="Seconds of past audio the models see again.")]
LookaheadOpt = Annotated[float, typer.Option("--lookahead", help="Seconds of future each block waits for.")]
CrossfadeOpt = Annotated[float, typer.Option("--crossfade", help="Seconds over which blocks overlap.")]
PitchContextOpt = Annotated[
    float, typer.Option("--pitch-context", help="Seconds of past audio the pitch estimator sees (≤ --context).")
]
IndexRateOpt = Annotated[float, typer.Option("--index-rate", help="Share of retrieved training features.")]
ProtectOpt = Annotated[float, typer.Option("--protect", help="Keep consonants/breaths (0.5 = off).")]
RmsMixOpt = Annotated[float, typer.Option("--rms-mix-rate", help="1 = model loudness, 0 = input's.")]
SpeakerIdOpt = Annotated[int, typer.Option("--speaker-id", help="Speaker of multi-speaker models.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Load adapters even if they do not fit the base.")]

# the defaults these options take, from the one place each is defined
BLOCK, CONTEXT, LOOKAHEAD, CROSSFADE, PITCH_CONTEXT = S.block, S.context, S.lookahead, S.crossfade, S.pitch_context
INDEX_RATE, PROTECT, RMS_MIX, SPEAKER_ID = D.index_rate, D.protect, D.rms_mix_rate, D.speaker_id
