"""``rvclora live``: microphone → converted voice → speakers (a thin layer over rvclora.realtime)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import typer

from rvclora.choices import Backend, Precision
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
KEYS = "+/- pitch up/down · m monitor on/off · s status · q quit · or: pitch N, voice a.safetensors[,b 0.5,0.5]"


def register(app: typer.Typer) -> None:
    app.command("live", no_args_is_help=True)(live_command)


def live_command(
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
    list_devices: Annotated[bool, typer.Option("--list-devices", help="List audio devices and exit.")] = False,
    input_device: Annotated[
        str | None, typer.Option("--input", "-i", help="Microphone: index or part of its name.")
    ] = None,
    output_device: Annotated[
        str | None, typer.Option("--output", "-o", help="Speakers: index or part of its name.")
    ] = None,
    sr: Annotated[int | None, typer.Option("--sr", help="Device rate (default: the input device's).")] = None,
    monitor: Annotated[
        bool, typer.Option("--monitor/--no-monitor", help="Play the converted voice (toggle: m).")
    ] = True,
    block: BlockOpt = BLOCK,
    context: ContextOpt = CONTEXT,
    lookahead: LookaheadOpt = LOOKAHEAD,
    crossfade: CrossfadeOpt = CROSSFADE,
    pitch_context: PitchContextOpt = PITCH_CONTEXT,
    pitch: Annotated[
        float, typer.Option("--pitch", "-p", help="Transpose by this many semitones (keys: +/-).")
    ] = D.pitch,
    index_rate: IndexRateOpt = INDEX_RATE,
    protect: ProtectOpt = PROTECT,
    rms_mix_rate: RmsMixOpt = RMS_MIX,
    speaker_id: SpeakerIdOpt = SPEAKER_ID,
    force: ForceOpt = False,
) -> None:
    """Change your voice live: microphone to speakers through an adapter (pip install "rvclora\\[live]")."""
    import sys

    from rvclora.commands._realtime import build_stream
    from rvclora.console import err, out, table
    from rvclora.infer.options import ConverterConfig, ConvertOptions
    from rvclora.realtime.device import LiveLoop, default_rate, device_arg, import_sounddevice
    from rvclora.realtime.device import list_devices as query
    from rvclora.realtime.settings import StreamSettings, check_rate

    sd = import_sounddevice()
    if list_devices:
        rows = query(sd)
        out.print(
            table(
                "audio devices",
                ["#", "name", "host API", "in", "out", "rate"],
                [[d["index"], d["name"], d["hostapi"], d["inputs"], d["outputs"], d["default_sr"]] for d in rows],
            )
        )
        return
    settings = StreamSettings(block, context, lookahead, crossfade, pitch_context)
    mic, speakers = device_arg(input_device), device_arg(output_device)
    rate = check_rate(sr or default_rate(sd, mic), "the device rate")
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
    loop = LiveLoop(build_stream(config, options, rate, rate, settings))
    loop.monitor = monitor
    run_live(loop, loop.open(sd, mic, speakers), _lines(sys.stdin), err)


def run_live(loop: Any, device_stream: Any, lines: Iterable[str], console: Any) -> None:
    """Run until ``q``, end of input or Ctrl-C, handling one control line at a time; warns when too slow."""
    import threading

    from rvclora.commands._realtime import report_line, slow_warning
    from rvclora.realtime.control import apply

    stop = threading.Event()

    def watch() -> None:  # the audio thread must not print: this one does, at most every 5 s
        while not stop.wait(5.0):
            warning = slow_warning(loop.stream.stats)
            if warning:
                console.print(f"[yellow]warning:[/yellow] {warning}")

    console.print(
        f"converting live: block {loop.stream.settings.block:g} s, latency "
        f"{loop.stream.settings.latency:.2f} s + compute. Keys: {KEYS}"
    )
    threading.Thread(target=watch, name="rvclora-live-watch", daemon=True).start()
    try:
        with device_stream:
            for raw in lines:
                line = raw.strip()
                if loop.error is not None:
                    raise loop.error
                if line in ("q", "quit", "exit"):
                    break
                if line in ("+", "-"):
                    line = "up" if line == "+" else "down"
                if line == "m":
                    loop.monitor = not loop.monitor
                    console.print(f"monitor {'on' if loop.monitor else 'off'}")
                elif line == "s":
                    console.print(report_line(loop.stream.stats))
                elif line:
                    outcome = apply(line, loop.stream)
                    console.print(outcome.message if outcome.ok else f"[yellow]warning:[/yellow] {outcome.message}")
    except KeyboardInterrupt:
        pass  # Ctrl-C is the ordinary way out: leave the with-block (which stops the device) and say goodbye
    finally:
        stop.set()
    console.print(f"stopped after {loop.stream.stats.blocks} blocks ({report_line(loop.stream.stats)})")
    if loop.error is not None:
        raise loop.error


def _lines(stream: Any) -> Iterable[str]:
    """Prompt lines; a closed stdin (no terminal) keeps running until Ctrl-C."""
    import threading

    yield from stream
    threading.Event().wait()  # no more commands: run until Ctrl-C
