"""``rvclora infer``: convert speech or singing to an adapter's voice (a thin layer over rvclora.infer)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rvclora.choices import AudioFormat, Backend, F0Setting, Precision, UnvoicedF0
from rvclora.infer.options import DEFAULTS

D = DEFAULTS


def register(app: typer.Typer) -> None:
    app.command("infer", no_args_is_help=True)(infer_command)


def infer_command(
    inputs: Annotated[list[str], typer.Argument(help="Audio files, folders, or - for stdin.", show_default=False)],
    output: Annotated[str, typer.Option("-o", "--output", help="Output file, folder, or - for stdout (WAV).")],
    lora: Annotated[
        list[Path] | None, typer.Option("--lora", "-l", help="Adapter(s); several are blended (or see --each).")
    ] = None,
    weights: Annotated[
        list[str] | None, typer.Option("--weights", "-w", help="Blend weights, one per --lora (e.g. 0.7,0.3).")
    ] = None,
    scale: Annotated[float, typer.Option("--scale", help="Adapter strength (1 = as trained).")] = 1.0,
    each: Annotated[
        bool, typer.Option("--each", help="One output per --lora instead of a blend (shares analysis).")
    ] = False,
    model: Annotated[
        Path | None, typer.Option("--model", help="A plain RVC model .pth to convert with (no adapter).")
    ] = None,
    base: Annotated[
        Path | None, typer.Option("--base", help="Base model (default: the one recorded in the adapter).")
    ] = None,
    index: Annotated[
        Path | None, typer.Option("--index", help="Retrieval index (default: the adapter workspace's).")
    ] = None,
    hubert: Annotated[
        Path | None, typer.Option("--hubert", help="Content encoder (default: workspace/user config).")
    ] = None,
    rmvpe: Annotated[
        Path | None, typer.Option("--rmvpe", help="RMVPE pitch model (default: workspace/user config).")
    ] = None,
    f0_method: Annotated[
        F0Setting | None,
        typer.Option(
            "--f0-method", help="Pitch extractor (auto = rmvpe if configured, else harvest).", show_default=False
        ),
    ] = None,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda, cuda:N, mps.")] = None,
    precision: Annotated[
        Precision, typer.Option("--precision", help="Model precision; auto = fp16 on GPU.")
    ] = Precision.auto,
    backend: Annotated[
        Backend,
        typer.Option(
            "--backend",
            help="Decoder engine; auto = onednn on CPU fp32 (onnx if torch lacks oneDNN); torch = plain PyTorch.",
        ),
    ] = Backend.auto,
    pitch: Annotated[float, typer.Option("--pitch", "-p", help="Transpose by this many semitones.")] = D.pitch,
    f0_file: Annotated[
        Path | None, typer.Option("--f0-file", help="CSV of 'time_s,f0_Hz' lines overriding pitch.")
    ] = None,
    unvoiced_f0: Annotated[
        UnvoicedF0 | None,
        typer.Option(
            "--unvoiced-f0",
            case_sensitive=False,
            show_default=False,
            help="Pitch on unvoiced frames: zero (older RVC) or fill (interpolated, RVC's current main; protect then "
            "has no effect). Default: the adapter's training convention, else the unvoiced_f0 setting (zero).",
        ),
    ] = None,
    index_rate: Annotated[
        float, typer.Option("--index-rate", help="Share of retrieved training features.")
    ] = D.index_rate,
    protect: Annotated[float, typer.Option("--protect", help="Keep consonants/breaths (0.5 = off).")] = D.protect,
    filter_radius: Annotated[
        int, typer.Option("--filter-radius", help=">2: median-filter harvest pitch.")
    ] = D.filter_radius,
    rms_mix_rate: Annotated[
        float, typer.Option("--rms-mix-rate", help="1 = model loudness, 0 = input's.")
    ] = D.rms_mix_rate,
    resample_sr: Annotated[
        int, typer.Option("--resample-sr", help="Resample the output (0 = model rate).")
    ] = D.resample_sr,
    speaker_id: Annotated[int, typer.Option("--speaker-id", help="Speaker of multi-speaker models.")] = D.speaker_id,
    seed: Annotated[
        int,
        typer.Option(
            "--seed", help="Seed of the model's noise: the same seed gives the same output; -1 = new noise every run."
        ),
    ] = D.seed if D.seed is not None else -1,
    suffix: Annotated[str, typer.Option("--suffix", help="Added to output names in folder mode.")] = "",
    fmt: Annotated[
        AudioFormat | None,
        typer.Option(
            "--format",
            help="Output file type, where this soundfile writes it (default: from the output name).",
            show_default=False,
        ),
    ] = None,
    subtype: Annotated[str | None, typer.Option("--subtype", help="Sample format, e.g. PCM_16, PCM_24, FLOAT.")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing outputs (default: skip them).")
    ] = False,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Look for audio in subfolders too.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Load adapters even if they do not fit the base.")] = False,
    eager: Annotated[
        bool,
        typer.Option(
            "--eager",
            help="Run the models as loaded: the slower reference path, for debugging (same outputs within 1e-4).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Convert audio to an adapter's voice with RVC's inference pipeline."""
    from rvclora.errors import BadInputError
    from rvclora.infer.options import ConverterConfig, ConvertOptions
    from rvclora.infer.run import InferRequest, run_infer

    config = ConverterConfig(
        lora=lora or (),
        weights=weights or None,
        scale=scale,
        each=each,
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
        fast=not eager,
    )
    options = ConvertOptions(
        pitch=pitch,
        f0_file=f0_file,
        index_rate=index_rate,
        protect=protect,
        filter_radius=filter_radius,
        rms_mix_rate=rms_mix_rate,
        resample_sr=resample_sr,
        speaker_id=speaker_id,
        seed=None if seed < 0 else seed,
        unvoiced_f0=unvoiced_f0.value if unvoiced_f0 else None,
    )
    request = InferRequest(
        inputs, output, config, options, suffix, fmt.value if fmt else None, subtype, overwrite, recursive
    )
    with _ProgressBar() as bar:
        summary = run_infer(request, on_progress=bar.update)
    rows = summary.to_json()
    _summarise(rows, as_json, to_stderr=output == "-")
    _warn(rows)
    failed = [r for r in rows if r["status"].startswith("failed")]
    if failed:
        raise BadInputError(
            f"{len(failed)} of {len(rows)} conversions failed (see the table above)",
            "fix or remove those inputs and run again; finished outputs are kept",
        )


class _ProgressBar:
    """A rich bar over the seconds of a long input (and over the files in folder mode). It appears only once a
    conversion needs more than one piece or there are several files, and disappears when the run ends, so a
    short conversion or a failed check prints nothing but its result."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._label = ""

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, label: str, done: float, total: float, number: int, count: int) -> None:
        from rvclora.console import progress

        if self._bar is None:
            if count == 1 and done >= total:
                return
            self._bar = progress(transient=True)
            self._bar.start()
            self._task = self._bar.add_task("converting", total=total, status="")
        if label != self._label:
            self._label = label
            self._bar.reset(self._task, total=total)
        where = f"{label} ({number + 1}/{count})" if count > 1 else label
        self._bar.update(self._task, completed=done, total=total, status=f"s of {where}")


def _summarise(rows: list[dict[str, Any]], as_json: bool, to_stderr: bool) -> None:
    import sys

    from rvclora.console import emit_json, err, out, table

    if as_json:
        if to_stderr:
            import json

            sys.stderr.write(json.dumps(rows, indent=2) + "\n")
        else:
            emit_json(rows)
        return
    cols = ["input", "output", "duration", "RTF", "F0", "index", "status"]
    body = [
        [
            r["input"],
            r["output"],
            _fmt(r.get("duration_s"), "s"),
            _fmt(r.get("rtf"), ""),
            r.get("f0_method") or "-",
            r.get("index") or "-",
            r["status"],
        ]
        for r in rows
    ]
    (err if to_stderr else out).print(table(None, cols, body))


def _warn(rows: list[dict[str, Any]]) -> None:
    """Each distinct warning once, on stderr (a lost index must not pass silently)."""
    from rich.markup import escape

    from rvclora.console import err

    for text in dict.fromkeys(w for r in rows for w in r.get("warnings", [])):
        err.print(f"[yellow]warning:[/] {escape(text)}")


def _fmt(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.2f}{unit}"
