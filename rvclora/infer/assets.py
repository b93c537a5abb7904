"""Finding what a conversion needs: base model, HuBERT, RMVPE, F0 method, device, index.

Order of precedence: explicit argument (CLI flag) > the adapter's workspace ``rvclora.yaml`` (the folder the
adapter sits in, ``<workspace>/adapters/``; older adapters recorded its absolute path) > the user config /
``$RVCLORA_*`` > the schema default. So an adapter trained on this machine converts with no flags at all, and a
shared one needs only the machine's assets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rvclora.devices import resolve_device
from rvclora.errors import ConfigError

if TYPE_CHECKING:
    from rvclora.lora.meta import AdapterMeta


def _path_of(recorded: str | None) -> Path | None:
    return Path(recorded).expanduser() if recorded else None


def recorded_base(meta: AdapterMeta) -> Path | None:
    """The base model the adapter recorded (older adapters kept its absolute path), if any."""
    return _path_of(meta.recorded_base)


def adapter_workspace(adapter: Path, meta: AdapterMeta) -> tuple[Path | None, str | None]:
    """The adapter's workspace and a warning, if any.

    First the folder the adapter sits in (``<workspace>/adapters/<name>.safetensors``), so a moved, copied or
    cloned workspace keeps its settings and index; then the absolute folder that adapters written before
    rvclora stored paths relative to it recorded. A recorded folder that is gone is said, not skipped silently.
    """
    around = Path(adapter).expanduser().absolute().parent.parent
    if (around / "rvclora.yaml").is_file():
        return around, None
    recorded = _path_of(meta.recorded_workspace)
    if recorded is None or recorded.is_dir():
        return recorded, None
    return None, (
        f"{Path(adapter).name}: its workspace {recorded} no longer exists, so no retrieval index or "
        "workspace settings are used (pass --index, or keep the adapter in <workspace>/adapters/)"
    )


def machine_settings() -> dict[str, Any]:
    """Schema defaults <- user config <- environment, as flat dotted keys (no workspace involved)."""
    from rvclora.workspace.settings import Layer, env_layer, merge, user_layer

    return merge(Layer(), user=user_layer(), env=env_layer(), cli=Layer()).values


def default_unvoiced_f0() -> str:
    """The unvoiced-F0 convention for voices that record none (plain RVC models, older adapters): the user
    config's ``unvoiced_f0``, else the schema default ``zero`` (why: docs/inference.md)."""
    return str(machine_settings()["unvoiced_f0"])


def workspace_settings(folder: Path | None) -> dict[str, Any]:
    """Effective settings of a workspace (never created or rewritten here), or the machine's without one."""
    if folder is None or not (folder / "rvclora.yaml").is_file():
        return machine_settings()
    from rvclora.workspace import Workspace

    ws = Workspace.open(folder, create=False)
    return {name: ws.settings.get(name) for name in _NAMES}


_NAMES = ("assets.base", "assets.hubert", "assets.rmvpe", "f0_method", "device")


@dataclass(frozen=True)
class Assets:
    """Resolved paths and choices for one conversion run."""

    hubert: Path
    rmvpe: Path | None
    f0_method: str
    device: str


def resolve_assets(
    settings: Mapping[str, Any],
    hubert: Path | None = None,
    rmvpe: Path | None = None,
    f0_method: str | None = None,
    device: str | None = None,
) -> Assets:
    """Fill in what the caller did not give from ``settings`` (see :func:`workspace_settings`)."""
    hubert = hubert or _path(settings.get("assets.hubert"))
    if hubert is None:
        raise ConfigError(
            "no content encoder (HuBERT) given",
            "pass --hubert hubert_base.pt, or set assets.hubert in the workspace or ~/.config/rvclora/config.yaml",
        )
    rmvpe = rmvpe or _path(settings.get("assets.rmvpe"))
    method = f0_method or settings.get("f0_method") or "auto"
    if method == "auto":
        from rvclora.features.f0 import default_f0_method

        method = default_f0_method(rmvpe)
    return Assets(
        hubert=hubert, rmvpe=rmvpe, f0_method=method, device=str(resolve_device(device or settings.get("device")))
    )


def _path(value: Any) -> Path | None:
    return Path(value).expanduser() if value else None


def find_index(workspace: Path | None, version: str | None = None) -> Path | None:
    """The retrieval index in a workspace's ``index/`` folder (RVC's ``added_*`` file; never ``trained_*``)."""
    if workspace is None or not (workspace / "index").is_dir():
        return None
    found = [p for p in (workspace / "index").glob("*.index") if "trained" not in p.name]
    if version:
        found = [p for p in found if not p.stem.endswith(("_v1", "_v2")) or p.stem.endswith(f"_{version}")]
    if not found:
        return None
    return max(found, key=lambda p: (p.name.startswith("added"), p.stat().st_mtime))
