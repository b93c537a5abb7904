"""Command-line options shared by every workspace command (preprocess, extract, train ...).

Each option defaults to None ("not given"), so only what the user typed becomes an override; the help text
shows the workspace default read from the schema. Use the ``Annotated`` aliases as parameter types and
pass the values to :func:`workspace_overrides`.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import typer

from rvclora.workspace.schema import F0_METHODS, SAMPLE_RATES, UNVOICED_F0, default

SampleRate = enum.Enum("SampleRate", {name: name for name in SAMPLE_RATES}, type=str)  # type: ignore[misc]
ModelVersion = enum.Enum("ModelVersion", {"v1": "v1", "v2": "v2"}, type=str)
F0Method = enum.Enum("F0Method", {name: name for name in F0_METHODS}, type=str)  # type: ignore[misc]
UnvoicedF0 = enum.Enum("UnvoicedF0", {name: name for name in UNVOICED_F0}, type=str)  # type: ignore[misc]


def default_note(key: str) -> str:
    """``[workspace default: X]`` for help texts, X written plainly: on/off for flags, none when unset."""
    value = default(key)
    shown = ("on" if value else "off") if isinstance(value, bool) else "none" if value is None else value
    return f"\\[workspace default: {shown}]"


def _help(text: str, key: str) -> str:
    return f"{text} {default_note(key)}"


WorkspaceArg = Annotated[
    Path, typer.Argument(help="Voice workspace folder (created with rvclora.yaml if missing).", show_default=False)
]
InputOpt = Annotated[
    Path | None,
    typer.Option(
        "--input", help=_help("Folder of source recordings (subfolders = speakers).", "input"), show_default=False
    ),
]
SrOpt = Annotated[
    SampleRate | None,
    typer.Option("--sr", help=_help("Model sample rate.", "sr"), show_default=False, case_sensitive=False),
]
VersionOpt = Annotated[
    ModelVersion | None,
    typer.Option(  # also --version, a hidden alias (_command_class)
        "--model-version", help=_help("RVC model version.", "version"), show_default=False
    ),
]
BaseOpt = Annotated[
    Path | None,
    typer.Option("--base", help=_help("Pretrained generator (e.g. f0G40k.pth).", "assets.base"), show_default=False),
]
BaseDOpt = Annotated[
    Path | None,
    typer.Option(
        "--base-d", help=_help("Pretrained discriminator (e.g. f0D40k.pth).", "assets.base_d"), show_default=False
    ),
]
HubertOpt = Annotated[
    Path | None,
    typer.Option("--hubert", help=_help("Content encoder hubert_base.pt.", "assets.hubert"), show_default=False),
]
RmvpeOpt = Annotated[
    Path | None,
    typer.Option("--rmvpe", help=_help("RMVPE pitch model rmvpe.pt.", "assets.rmvpe"), show_default=False),
]
F0MethodOpt = Annotated[
    F0Method | None,
    typer.Option(
        "--f0-method",
        help=_help("Pitch extractor (auto = rmvpe if configured, else harvest).", "f0_method"),
        show_default=False,
    ),
]
UnvoicedF0Opt = Annotated[
    UnvoicedF0 | None,
    typer.Option(
        "--unvoiced-f0",
        help=_help(
            "Pitch on unvoiced frames: zero (older RVC, its pretrained bases) or fill "
            "(interpolated, RVC's current main).",
            "unvoiced_f0",
        ),
        show_default=False,
        case_sensitive=False,
    ),
]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help=_help("auto, cpu, mps, cuda or cuda:N.", "device"), show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def workspace_overrides(
    *,
    input: Path | None = None,
    sr: enum.Enum | str | None = None,
    version: enum.Enum | str | None = None,
    base: Path | None = None,
    base_d: Path | None = None,
    hubert: Path | None = None,
    rmvpe: Path | None = None,
    f0_method: enum.Enum | str | None = None,
    device: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Turn the common flags into a dotted-key overrides dict for ``Workspace.open`` (None = not given).

    ``extra`` passes command-specific dotted keys through, e.g. ``**{"preprocess.workers": workers}``.
    """
    given = {
        "input": input,
        "sr": sr,
        "version": version,
        "assets.base": base,
        "assets.base_d": base_d,
        "assets.hubert": hubert,
        "assets.rmvpe": rmvpe,
        "f0_method": f0_method,
        "device": device,
        **extra,
    }
    out: dict[str, Any] = {}
    for key, value in given.items():
        if value is None:
            continue
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, Path):
            value = str(value)
        out[key] = value
    return out
