"""``rvclora inspect``: say what a file is."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

ORDER = (
    "kind",
    "label",
    "version",
    "sr",
    "sr_label",
    "f0",
    "n_params",
    "dtype",
    "size_bytes",
    "rank",
    "alpha",
    "rslora",
    "scale",
    "targets",
    "full_modules",
    "layers",
    "base_fingerprint",
    "created",
    "info",
    "config",
)


def inspect_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="Any RVC/rvclora file: voice .pth, G/D, adapter, HuBERT, RMVPE, .index.", show_default=False
        ),
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print the description as one JSON object.")] = False,
) -> None:
    """Describe a file: kind, version, sample rate, pitch, parameters, dtype, size, config.

    Knows RVC voice models, pretrained/training G and D files, rvclora adapters (rank, alpha, targets, base fingerprint, info), HuBERT (fairseq or Hugging Face), RMVPE and retrieval indexes.
    """
    from rvclora.inspect.stage import InspectRequest, run_inspect

    desc = run_inspect(InspectRequest(file)).to_json()
    if json_out:
        from rvclora.console import emit_json

        emit_json(desc)
        return
    from rvclora.console import show, table

    keys = [k for k in ORDER if desc.get(k) is not None] + [k for k in desc if k not in ORDER and k != "path"]
    rows = [(k, _fmt(k, desc[k])) for k in keys if desc.get(k) is not None]
    show(table(str(desc["path"]), ["field", "value"], rows))


def _fmt(key: str, value: Any) -> str:
    from rvclora.console import human_bytes, plain

    if key == "size_bytes":
        return f"{human_bytes(value)} ({value:,} bytes)"
    if key == "n_params":
        return f"{value:,}"
    return plain(value)


def register(app: typer.Typer) -> None:
    app.command("inspect", help=inspect_command.__doc__)(inspect_command)
