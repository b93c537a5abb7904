"""``rvclora merge``: bake adapters into a standard RVC model, or blend several into one adapter."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer


class Precision(str, enum.Enum):
    fp16 = "fp16"
    fp32 = "fp32"


def parse_weights(text: str | None, count: int) -> list[float]:
    """``"0.7,0.3"`` → [0.7, 0.3]; no text → one adapter at 1.0, several averaged (1/n each)."""
    from rvclora.errors import ConfigError

    if not text:
        return [1.0 / count] * count
    try:
        weights = [float(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise ConfigError(
            f"--weights must be numbers separated by commas, got {text!r}", "e.g. --weights 0.7,0.3"
        ) from None
    if len(weights) != count:
        raise ConfigError(f"--weights has {len(weights)} values for {count} adapters", "give one weight per --lora")
    return weights


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
        Precision, typer.Option("--precision", help="Weight precision of an RVC model output.")
    ] = Precision.fp16,
    info: Annotated[str | None, typer.Option("--info", help="Text stored in the model's info field.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Merge even if an adapter was made for another base.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Bake one adapter (or a weighted blend of several) into a standard RVC model, or blend adapters.

    -o voice.pth writes a model RVC WebUI and Applio load unmodified; -o blend.safetensors writes the blend as a new adapter (exact: the ranks are concatenated).
    """
    from rvclora.errors import ConfigError, OutputError
    from rvclora.merging import merge_to_adapter, merge_to_model, refuse_output_among_inputs

    suffix = output.suffix.lower()
    if suffix not in (".pth", ".safetensors"):
        raise ConfigError(f"output {output.name} must end in .pth (RVC model) or .safetensors (adapter)")
    refuse_output_among_inputs(output, base, lora)
    if output.exists() and not overwrite:
        raise OutputError(f"{output} already exists", "pass --overwrite to replace it")
    blend = [w * scale for w in parse_weights(weights, len(lora))]
    if suffix == ".pth":
        result = merge_to_model(base, lora, blend, output, precision=precision.value, info=info, force=force)
    else:
        result = merge_to_adapter(base, lora, blend, output, force=force)
    if json_out:
        from rvclora.console import emit_json

        emit_json(result)
        return
    from rvclora.console import human_bytes, show, table

    rows = [
        ("output", result["output"]),
        ("kind", result["kind"]),
        (
            "adapters",
            ", ".join(f"{Path(p).name} × {w:g}" for p, w in zip(result["adapters"], result["weights"], strict=True)),
        ),
        ("parameters", f"{result['params']:,}"),
        ("size", human_bytes(result["bytes"])),
    ]
    show(table("merge", ["", ""], rows))


def register(app: typer.Typer) -> None:
    app.command("merge", help=merge_command.__doc__)(merge_command)
