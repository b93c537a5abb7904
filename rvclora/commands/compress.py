"""``rvclora compress``: an RVC voice model (or a whole folder of them) → a small adapter on its base, with a
fidelity report; or an existing adapter → a smaller rank. Thin layer over :mod:`rvclora.compress.stage`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rvclora.choices import F0Method, StoragePrecision, TargetPreset
from rvclora.compress.settings import (
    DEFAULT_PRECISION,
    DEFAULT_PROBE_SECONDS,
    DEFAULT_RANK,
    DEFAULT_TARGET_SNR,
    DEFAULT_TARGETS,
)

STORAGE_PRECISION = StoragePrecision(DEFAULT_PRECISION)


def parse_rank(text: str) -> int | None:
    """``"auto"`` → None, ``"32"`` → 32."""
    from rvclora.errors import ConfigError

    if text.strip().lower() == "auto":
        return None
    try:
        rank = int(text)
    except ValueError:
        raise ConfigError(f"--rank must be a positive integer or auto, got {text!r}") from None
    if rank < 1:
        raise ConfigError(f"--rank must be a positive integer or auto, got {text!r}")
    return rank


def compress_command(
    source: Annotated[
        Path | None,
        typer.Argument(
            help="RVC voice model (.pth) to compress, or an adapter (.safetensors) to resize.", show_default=False
        ),
    ] = None,
    base: Annotated[
        Path | None,
        typer.Option(
            "--base",
            help="Pretrained base the voice was trained from (f0G40k.pth …); optional when resizing an adapter.",
            show_default=False,
        ),
    ] = None,
    rank: Annotated[
        str, typer.Option("--rank", help="Rank per layer, or auto (smallest per-layer ranks that meet --target-snr).")
    ] = DEFAULT_RANK,
    target_snr: Annotated[
        float,
        typer.Option(
            "--target-snr", help="With --rank auto: audio SNR (dB) of base + adapter against the original on the probe."
        ),
    ] = DEFAULT_TARGET_SNR,
    targets: Annotated[
        str,
        typer.Option(
            "--targets",
            help=f"LoRA target preset ({', '.join(TargetPreset.values())}) or "
            "comma-separated module patterns; other changes are stored whole.",
        ),
    ] = DEFAULT_TARGETS,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Adapter file (default: next to SOURCE), or the output folder with --folder.",
            show_default=False,
        ),
    ] = None,
    folder: Annotated[
        Path | None, typer.Option("--folder", help="Compress every .pth model in this folder.", show_default=False)
    ] = None,
    probe: Annotated[
        Path | None,
        typer.Option(
            "--probe",
            help="Measure fidelity on this audio instead of the built-in synthetic probe (needs --hubert).",
            show_default=False,
        ),
    ] = None,
    probe_seconds: Annotated[
        float, typer.Option("--probe-seconds", help="Length of the built-in probe.")
    ] = DEFAULT_PROBE_SECONDS,
    hubert: Annotated[
        Path | None, typer.Option("--hubert", help="hubert_base.pt, for --probe.", show_default=False)
    ] = None,
    f0_method: Annotated[F0Method, typer.Option("--f0-method", help="F0 estimator for --probe.")] = F0Method.harvest,
    rmvpe: Annotated[
        Path | None, typer.Option("--rmvpe", help="rmvpe.pt, for --f0-method rmvpe.", show_default=False)
    ] = None,
    precision: Annotated[
        StoragePrecision, typer.Option("--precision", help="Adapter storage precision.")
    ] = STORAGE_PRECISION,
    force: Annotated[
        bool, typer.Option("--force", help="Write the adapter even if the voice was not trained from this base.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
    layers: Annotated[
        bool,
        typer.Option(
            "--layers", help="Also print the table of every layer (the default is a summary per module group)."
        ),
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON on stdout (always per layer and per group).")
    ] = False,
) -> None:
    """Turn full RVC voice models into small adapters on their base, with a fidelity report.

    Per layer: the truncated SVD of (voice − base). The report gives the size saved, ranks per module group (every layer with --layers) and how closely base + adapter reproduces the original (SNR, MCD, max |diff|). An adapter as SOURCE is resized to --rank.
    """
    from rvclora.compress.stage import CompressOptions, CompressRequest, run_compress

    target_list: str | list[str] = [t.strip() for t in targets.split(",") if t.strip()] if "," in targets else targets
    options = CompressOptions(
        rank=parse_rank(rank),
        target_snr=target_snr,
        targets=target_list,
        precision=precision.value,
        probe_seconds=probe_seconds,
        probe=probe,
        hubert=hubert,
        f0_method=f0_method.value,
        rmvpe=rmvpe,
        force=force,
        overwrite=overwrite,
    )
    summary = run_compress(CompressRequest(source, base, output, folder, options))
    if summary.mode == "folder":
        _show_folder(summary.report, json_out)
    else:
        _show(summary.report, json_out, layers)


def _fmt(value: Any, digits: int = 2) -> str:
    return "∞ (exact)" if value is None else f"{value:.{digits}f}"


def _ranks(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}–{high}"


def _show(report: dict[str, Any], json_out: bool, layers: bool = False) -> None:
    from rvclora.console import emit_json, err, human_bytes, show, table

    if json_out:
        emit_json(report)
    else:
        if layers:
            resized = "old_rank" in (report["layers"][0] if report["layers"] else {})
            # four columns: the longest RVC layer names still fit 80 columns unbroken
            columns = ["layer", "rank", "old rank" if resized else "‖ΔW‖/‖W‖", "energy kept"]
            rows = [
                [
                    r["layer"],
                    r["rank"],
                    r["old_rank"] if resized else ("base is 0" if r["rel_diff"] is None else f"{r['rel_diff']:.3f}"),
                    f"{r['energy']:.1%}",
                ]
                for r in report["layers"]
            ]
            show(table("layers", columns, rows))
        groups = [
            [
                g["group"],
                g["layers"],
                _ranks(g["rank_min"], g["rank_max"]),
                f"{g['params']:,}",
                f"{g['energy_min']:.1%}",
            ]
            for g in report["groups"]
        ]
        show(
            table(
                "ranks per module group" + ("" if layers else " (every layer: --layers)"),
                ["group", "layers", "rank", "parameters", "worst energy kept"],
                groups,
            )
        )
        b = report["bytes"]
        rank = report["rank"]
        if rank == "auto":
            rank = f"auto (target {report['target_snr_db']:g} dB SNR)"
        summary = [
            ("output", report["output"]),
            ("rank", rank),
            (
                "size",
                f"{human_bytes(b['adapter'])} (source {human_bytes(b['source'])}, saved {human_bytes(b['saved'])})",
            ),
            ("parameters", f"{report['params']:,} ({report['dtype']})"),
        ]
        if report.get("full"):
            summary.append(
                ("stored whole", f"{len(report['full']['keys'])} tensors, {report['full']['params']:,} parameters")
            )
        audio = report.get("audio")
        if audio:
            summary += [
                ("probe", f"{audio['probe']} ({audio['seconds']:.1f} s)"),
                ("SNR", f"{_fmt(audio['snr_db'])} dB"),
                ("MCD", "n/a (silent probe output)" if audio["mcd_db"] is None else f"{audio['mcd_db']:.2f} dB"),
                ("max |diff|", f"{audio['max_abs']:.2e}"),
            ]
        show(table("compress", ["", ""], summary))
    for warning in report.get("warnings", []):
        err.print(f"[yellow]warning:[/] {warning}")


def _show_folder(summary: dict[str, Any], json_out: bool) -> None:
    from rvclora.console import emit_json, human_bytes, show, table

    if json_out:
        emit_json(summary)
        return
    rows = []
    for entry in summary["models"]:
        report = entry.get("report") or {}
        audio = report.get("audio") or {}
        rows.append(
            [
                Path(entry["source"]).name,
                entry["status"] + (f": {entry['reason']}" if "reason" in entry else ""),
                human_bytes(report["bytes"]["adapter"]) if report else "",
                _fmt(audio.get("snr_db")) if report else "",
            ]
        )
    show(table("compress folder", ["model", "status", "adapter", "SNR dB"], rows))
    show(
        f"{summary['compressed']} compressed, {summary['refused']} refused; "
        f"total saved {human_bytes(summary['bytes_saved'])}"
    )


def register(app: typer.Typer) -> None:
    app.command("compress", help=compress_command.__doc__)(compress_command)
