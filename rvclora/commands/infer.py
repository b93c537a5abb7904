"""``rvclora infer``: convert speech or singing to an adapter's voice (a thin layer over rvclora.infer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rvclora.commands._workspace_options import UnvoicedF0
from rvclora.infer.options import BACKENDS, DEFAULTS, PRECISIONS
from rvclora.workspace.schema import F0_METHODS

D = DEFAULTS


def register(app: typer.Typer) -> None:
    app.command("infer", no_args_is_help=True)(infer)


def infer(
    inputs: list[str] = typer.Argument(..., help="Audio files, folders, or - for stdin.", show_default=False),
    output: str = typer.Option(..., "-o", "--output", help="Output file, folder, or - for stdout (WAV)."),
    lora: list[Path] = typer.Option([], "--lora", "-l", help="Adapter(s); several are blended (or see --each)."),
    weights: list[str] = typer.Option([], "--weights", "-w", help="Blend weights, one per --lora (e.g. 0.7,0.3)."),
    scale: float = typer.Option(1.0, "--scale", help="Adapter strength (1 = as trained)."),
    each: bool = typer.Option(False, "--each", help="One output per --lora instead of a blend (shares analysis)."),
    model: Path | None = typer.Option(None, "--model", help="A plain RVC model .pth to convert with (no adapter)."),
    base: Path | None = typer.Option(None, "--base", help="Base model (default: the one recorded in the adapter)."),
    index: Path | None = typer.Option(None, "--index", help="Retrieval index (default: the adapter workspace's)."),
    hubert: Path | None = typer.Option(None, "--hubert", help="Content encoder (default: workspace/user config)."),
    rmvpe: Path | None = typer.Option(None, "--rmvpe", help="RMVPE pitch model (default: workspace/user config)."),
    f0_method: str | None = typer.Option(None, "--f0-method", help=f"Pitch extractor: {', '.join(F0_METHODS)}."),
    device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N, mps."),
    precision: str = typer.Option("auto", "--precision", help=f"{', '.join(PRECISIONS)}; auto = fp16 on GPU."),
    backend: str = typer.Option(
        "auto",
        "--backend",
        help=f"{', '.join(BACKENDS)}; auto = onnx on CPU fp32 when installed, torch forces PyTorch.",
    ),
    pitch: float = typer.Option(D.pitch, "--pitch", "-p", help="Transpose by this many semitones."),
    f0_file: Path | None = typer.Option(None, "--f0-file", help="CSV of 'time_s,f0_Hz' lines overriding pitch."),
    unvoiced_f0: UnvoicedF0 | None = typer.Option(
        None,
        "--unvoiced-f0",
        case_sensitive=False,
        show_default=False,
        help="Pitch on unvoiced frames: zero (older RVC) or fill (interpolated, RVC's current main; protect then "
        "has no effect). Default: the adapter's training convention, else the unvoiced_f0 setting (zero).",
    ),
    index_rate: float = typer.Option(D.index_rate, "--index-rate", help="Share of retrieved training features."),
    protect: float = typer.Option(D.protect, "--protect", help="Keep consonants/breaths (0.5 = off)."),
    filter_radius: int = typer.Option(D.filter_radius, "--filter-radius", help=">2: median-filter harvest pitch."),
    rms_mix_rate: float = typer.Option(D.rms_mix_rate, "--rms-mix-rate", help="1 = model loudness, 0 = input's."),
    resample_sr: int = typer.Option(D.resample_sr, "--resample-sr", help="Resample the output (0 = model rate)."),
    speaker_id: int = typer.Option(D.speaker_id, "--speaker-id", help="Speaker of multi-speaker models."),
    seed: int = typer.Option(
        D.seed if D.seed is not None else -1,
        "--seed",
        help="Seed of the model's noise: the same seed gives the same output; -1 = new noise every run.",
    ),
    suffix: str = typer.Option("", "--suffix", help="Added to output names in folder mode."),
    fmt: str | None = typer.Option(
        None, "--format", help="wav, flac, ogg, mp3, aiff (what this soundfile writes; default: from the output name)."
    ),
    subtype: str | None = typer.Option(None, "--subtype", help="Sample format, e.g. PCM_16, PCM_24, FLOAT."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs (default: skip them)."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Look for audio in subfolders too."),
    force: bool = typer.Option(False, "--force", help="Load adapters even if they do not fit the base."),
    eager: bool = typer.Option(
        False,
        "--eager",
        help="Run the models as loaded: the slower reference path, for debugging (same outputs within 1e-4).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Convert audio to an adapter's voice with RVC's inference pipeline."""
    from rvclora.errors import BadInputError
    from rvclora.infer.run import run_infer

    with _ProgressBar() as bar:
        rows = run_infer(
            inputs=inputs,
            output=output,
            suffix=suffix,
            fmt=fmt,
            subtype=subtype,
            overwrite=overwrite,
            recursive=recursive,
            on_progress=bar.update,
            converter_args=dict(
                lora=lora,
                weights=_parse_weights(weights),
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
                force=force,
                fast=not eager,
                backend=backend,
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
            ),
        )
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


def _parse_weights(values: list[str]) -> list[float] | None:
    from rvclora.errors import ConfigError

    parts = [p for v in values for p in v.split(",") if p.strip()]
    try:
        return [float(p) for p in parts] or None
    except ValueError:
        raise ConfigError(f"--weights must be numbers, got {', '.join(values)}", "e.g. --weights 0.7,0.3") from None
