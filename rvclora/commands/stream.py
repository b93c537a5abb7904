"""``rvclora stream``: convert raw PCM or WAV from stdin to stdout block by block (a thin layer over
rvclora.realtime)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rvclora.choices import Backend, PcmSample, Precision
from rvclora.commands._voice_options import (
    BLOCK,
    CONTEXT,
    CROSSFADE,
    INDEX_RATE,
    LOOKAHEAD,
    PITCH_CONTEXT,
    PROTECT,
    RMS_MIX,
    SPEAKER_ID,
    BackendOpt,
    BaseOpt,
    BlockOpt,
    ContextOpt,
    CrossfadeOpt,
    DeviceOpt,
    F0MethodOpt,
    ForceOpt,
    HubertOpt,
    IndexOpt,
    IndexRateOpt,
    LookaheadOpt,
    LoraOpt,
    ModelOpt,
    PitchContextOpt,
    PrecisionOpt,
    ProtectOpt,
    RmsMixOpt,
    RmvpeOpt,
    ScaleOpt,
    SpeakerIdOpt,
    WeightsOpt,
)
from rvclora.infer.options import DEFAULTS

D = DEFAULTS


def register(app: typer.Typer) -> None:
    app.command("stream", no_args_is_help=True)(stream_command)


def stream_command(
    lora: LoraOpt = None,
    weights: WeightsOpt = None,
    scale: ScaleOpt = 1.0,
    model: ModelOpt = None,
    base: BaseOpt = None,
    index: IndexOpt = None,
    hubert: HubertOpt = None,
    rmvpe: RmvpeOpt = None,
    f0_method: F0MethodOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = Precision.auto,
    backend: BackendOpt = Backend.auto,
    sr: Annotated[
        int | None, typer.Option("--sr", help="Input rate (needed with --raw; checked against a WAV).")
    ] = None,
    out_sr: Annotated[int | None, typer.Option("--out-sr", help="Output rate (default: the input's).")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Headerless mono PCM in and out (else WAV in and out).")] = False,
    fmt: Annotated[PcmSample, typer.Option("--format", help="Raw sample format.")] = PcmSample.s16le,
    block: BlockOpt = BLOCK,
    context: ContextOpt = CONTEXT,
    lookahead: LookaheadOpt = LOOKAHEAD,
    crossfade: CrossfadeOpt = CROSSFADE,
    pitch_context: PitchContextOpt = PITCH_CONTEXT,
    pitch: Annotated[float, typer.Option("--pitch", "-p", help="Transpose by this many semitones.")] = D.pitch,
    index_rate: IndexRateOpt = INDEX_RATE,
    protect: ProtectOpt = PROTECT,
    rms_mix_rate: RmsMixOpt = RMS_MIX,
    speaker_id: SpeakerIdOpt = SPEAKER_ID,
    control: Annotated[
        Path | None,
        typer.Option(
            "--control",
            help="File or FIFO of commands while running (e.g. 'pitch 3', 'voice b.safetensors'); "
            "see docs/realtime.md.",
        ),
    ] = None,
    force: ForceOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No latency report on stderr.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Latency report as one JSON object per line on stderr.")
    ] = False,
) -> None:
    """Convert a live stream: stdin → stdout, one block at a time (e.g. arecord | rvclora stream | aplay)."""
    import sys

    from rvclora.commands._realtime import build_stream, make_reporter
    from rvclora.infer.options import ConverterConfig, ConvertOptions
    from rvclora.realtime.pcm import PcmFormat
    from rvclora.realtime.pipe import open_input, run_pipe
    from rvclora.realtime.settings import StreamSettings, check_rate

    settings = StreamSettings(block, context, lookahead, crossfade, pitch_context)
    if sr is not None:
        check_rate(sr)
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    fmt_in, first = open_input(source, raw, fmt.value, sr)
    check_rate(fmt_in.sr, "the input rate")
    config = ConverterConfig(
        lora=lora or (),
        weights=weights or None,
        scale=scale,
        model=model,
        base=base,
        index=index,
        hubert=hubert,
        rmvpe=rmvpe,
        f0_method=f0_method,
        device=device,
        precision=precision,
        backend=backend,
        force=force,
    )
    options = ConvertOptions(
        pitch=pitch, index_rate=index_rate, protect=protect, rms_mix_rate=rms_mix_rate, speaker_id=speaker_id
    )
    converter_stream = build_stream(config, options, fmt_in.sr, out_sr, settings)
    out = PcmFormat(fmt_in.sample, converter_stream.out_sr)
    report = make_reporter(quiet, as_json)
    if control is not None:
        _follow(control, converter_stream)
    try:
        run_pipe(source, sink, converter_stream, fmt_in, out, raw, first, report)
    except BrokenPipeError:  # the reader went away (| head, aplay closed): end quietly, as pipes expect
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _follow(path: Path, target: object) -> None:
    """Read control lines from ``path`` in a background thread; outcomes go to stderr."""
    import threading

    from rvclora.console import err
    from rvclora.realtime.control import apply

    def loop() -> None:
        try:
            with open(path, encoding="utf-8") as lines:  # a FIFO blocks here until a writer opens it
                for line in lines:
                    if line.strip():
                        outcome = apply(line, target)  # type: ignore[arg-type]
                        err.print(
                            outcome.message
                            if outcome.ok
                            else f"[yellow]warning:[/yellow] {outcome.message} (keeping the current voice and settings)"
                        )
        except OSError as exc:
            err.print(f"[yellow]warning:[/yellow] cannot read --control {path}: {exc.strerror}")

    threading.Thread(target=loop, name="rvclora-control", daemon=True).start()
