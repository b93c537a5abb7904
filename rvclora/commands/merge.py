"""``rvclora merge``: bake adapters into a standard RVC model, or blend several into one adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rvclora.choices import StoragePrecision


def merge_command(
    base: Annotated[
        Path,
        typer.Option("--base", help="Base model the adapters were trained on (G file or .pth).", show_default=False),
    ],
    lora: Annotated[
        list[Path], typer.Option("--lora", help="Adapter file; repeat to blend several.", show_default=False)
    ],
    output: Annotated[
        Path,
        typer.Option(
            "-o", "--output", help="voice.pth (RVC model) or blend.safetensors (new adapter).", show_default=False
        ),
    ],
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights", help="Blend weights, e.g. 0.7,0.3 (default: 1 for one adapter, the average for several)."
        ),
    ] = None,
    scale: Annotated[float, typer.Option("--scale", help="Overall adapter strength (multiplies every weight).")] = 1.0,
    precision: Annotated[
        StoragePrecision, typer.Option("--precision", help="Weight precision of an RVC model output.")
    ] = StoragePrecision.fp16,
    info: Annotated[str | None, typer.Option("--info", help="Text stored in the model's info field.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Merge even if an adapter was made for another base.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Bake one adapter (or a weighted blend of several) into a standard RVC model, or blend adapters.

    -o voice.pth writes a model RVC WebUI and Applio load unmodified; -o blend.safetensors writes the blend as a new adapter (exact: the ranks are concatenated).
    """
    from rvclora.blend_weights import parse_weights
    from rvclora.merge.stage import MergeRequest, run_merge

    request = MergeRequest(
        base,
        lora,
        output,
        weights=parse_weights(weights, len(lora)),
        scale=scale,
        precision=precision.value,
        info=info,
        force=force,
        overwrite=overwrite,
    )
    summary = run_merge(request)
    if json_out:
        from rvclora.console import emit_json

        emit_json(summary.to_json())
        return
    from rvclora.console import human_bytes, show, table

    rows = [
        ("output", summary.output),
        ("kind", summary.kind),
        (
            "adapters",
            ", ".join(f"{Path(p).name} × {w:g}" for p, w in zip(summary.adapters, summary.weights, strict=True)),
        ),
        ("parameters", f"{summary.params:,}"),
        ("size", human_bytes(summary.bytes)),
    ]
    show(table("merge", ["", ""], rows))


def register(app: typer.Typer) -> None:
    app.command("merge", help=merge_command.__doc__)(merge_command)
