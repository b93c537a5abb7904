"""The :class:`Workspace`: a voice folder with ``rvclora.yaml`` at its root and a fixed layout below it.

Layout (all relative to the workspace root)::

    rvclora.yaml        settings (every key spelled out, with comments)
    raw/                source recordings (the ``input`` setting; subfolders = speakers)
    clips/<sr>/         training clips at the model rate (clips/40k/ ...)
    clips/16k/          the same clips at 16 kHz for the content encoder and pitch
    features/ f0/ index/ checkpoints/ adapters/ logs/
    .rvclora/           manifest.json and the lock
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from rvclora.errors import BadInputError, ConfigError, OutputError
from rvclora.fileio import atomic_write
from rvclora.workspace.confine import require_confined
from rvclora.workspace.lock import hold_lock
from rvclora.workspace.manifest import Manifest
from rvclora.workspace.overrides import Overrides
from rvclora.workspace.schema import ENV_VARS, KEYS, SAMPLE_RATES, defaults
from rvclora.workspace.settings import (
    Layer,
    SettingsView,
    env_layer,
    flatten_file,
    merge,
    override_layer,
    unset_keys,
    user_layer,
)
from rvclora.workspace.yamlfile import read_yaml, render_yaml

CONFIG_NAME = "rvclora.yaml"
STATE_DIR = ".rvclora"
HEADER = """rvclora workspace settings. Every key is listed with its default; edit values freely.
Paths are relative to this folder. null or auto = not set here: your user config
(~/.config/rvclora/config.yaml) or $RVCLORA_* environment variables may fill them in.
rvclora rewrites this file (comments regenerated) after a successful command whose options changed a
setting, and on 'rvclora config --set/--unset'."""
# What a model file set on the command line must be: its kinds (rvclora.inspect.stage), in words, and an example.
ASSET_KINDS = {
    "assets.base": (("rvc-train-G", "rvc-model"), "an RVC generator", "pretrained_v2/f0G40k.pth"),
    "assets.base_d": (("rvc-train-D",), "an RVC discriminator", "pretrained_v2/f0D40k.pth"),
    "assets.hubert": (("hubert",), "a HuBERT/ContentVec content encoder", "hubert_base.pt"),
    "assets.rmvpe": (("rmvpe",), "an RMVPE pitch model", "rmvpe.pt"),
}
# Keys looked up live from the user config / environment instead of being copied into a new workspace.
MACHINE_KEYS = frozenset(ENV_VARS.values())


class Workspace:
    """A voice workspace. Create or open it with :meth:`Workspace.open`."""

    def __init__(self, root: Path, settings: Layer) -> None:
        self.root = root
        self._layer = settings
        self.settings = SettingsView(self._resolved(settings.values))
        self._manifest: Manifest | None = None
        self._pending: dict[str, Any] | None = None  # rvclora.yaml's new values, until save_settings()

    @classmethod
    def open(
        cls,
        path: str | Path,
        create: bool = True,
        overrides: Overrides | Mapping[str, Any] | None = None,
        required: Mapping[str, tuple[str, str]] | None = None,
        unset: Iterable[str] = (),
    ) -> Workspace:
        """Open the workspace at ``path``; nothing is written here (see :meth:`save_settings`).

        Settings = defaults <- user config <- $RVCLORA_* <- rvclora.yaml <- ``overrides`` (an :class:`Overrides`,
        or dotted keys such as ``"sr"`` or ``"preprocess.workers"`` as ``rvclora config --set`` takes them; None
        values are ignored). ``unset`` names keys whose value in
        rvclora.yaml goes back to the default (null for assets: the user config or environment decides again).
        Every override is checked completely first, model files included (each must be the right kind), and
        ``required`` maps dotted keys the caller cannot do without to the (message, hint) of the error raised
        when one is unset. ``create`` allows a folder without rvclora.yaml; it is written, with the overrides,
        only by :meth:`save_settings` — call it once the command has succeeded, so a failed command (or a
        typo'd path) leaves nothing behind.
        """
        if isinstance(overrides, Overrides):
            unset = [*unset, *overrides.cleared()]
            overrides = overrides.settings()
        root = Path(path).expanduser()
        if root.name == CONFIG_NAME and root.is_file():
            root = root.parent
        root = root.resolve()
        if root.exists() and not root.is_dir():
            raise BadInputError(f"workspace path is a file, not a folder: {root}", "give the voice folder")
        config = root / CONFIG_NAME
        user, env, cli = user_layer(), env_layer(), override_layer(overrides)
        if config.is_file():
            file_layer = flatten_file(*read_yaml(config, str(config)), str(config))
            file_values = {**defaults(), **file_layer.values}
            new = False
        elif create:
            file_layer = Layer()
            file_values = defaults()
            file_values.update({k: v for k, v in user.values.items() if k not in MACHINE_KEYS})
            new = True
        else:
            raise BadInputError(
                f"not an rvclora workspace (no {CONFIG_NAME}): {root}",
                "run 'rvclora preprocess' on it first, or check the path",
            )
        cleared = unset_keys(unset)
        stored = dict(file_values)
        for name in cleared:
            file_layer.values.pop(name, None)
            file_values[name] = defaults()[name]
        effective = merge(file_layer, user=user, env=env, cli=cli)
        missing = [what for key, what in (required or {}).items() if effective.values.get(key) is None]
        if missing:
            raise ConfigError(*missing[0])
        ws = cls(root, effective)
        ws._check_assets()
        ws._check_lora()
        _check_device(cli.values.get("device"))
        given = {k: ws._to_file_path(k, v) for k, v in cli.values.items()}
        ws._check_asset_kinds([k for k, v in given.items() if v != stored.get(k)])  # a stored file was checked
        if {"f0_method", "assets.rmvpe"} & (set(cli.values) | set(cleared)):
            ws._check_f0_method()
        updated = {**file_values, **given}
        ws._pending = updated if new or updated != stored else None
        return ws

    def save_settings(self) -> bool:
        """Write rvclora.yaml with the command line's settings (creating the folder of a new workspace).

        Commands call this once they have succeeded, so a failed one changes nothing. Returns whether the file
        was written (False when nothing changed).
        """
        if self._pending is None:
            return False
        self._write_config(self._pending)
        self._pending = None
        return True

    # --- settings -------------------------------------------------------------------------------------
    def _resolved(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Path settings as absolute Paths (relative ones against the workspace)."""
        out = dict(values)
        for name, value in values.items():
            if KEYS[name].kind == "path" and value is not None:
                p = Path(value).expanduser()
                out[name] = p if p.is_absolute() else (self.root / p).resolve()
        return out

    def _check_assets(self) -> None:
        for name in ("assets.base", "assets.base_d", "assets.hubert", "assets.rmvpe"):
            p: Path | None = self.settings.get(name)
            if p is not None and not p.is_file():
                why = "is a folder" if p.is_dir() else "does not exist"
                raise ConfigError(f"{self.origin(name)}: '{name}' file {why}: {p}", "fix the path, or set it to null")

    def _check_asset_kinds(self, names: Iterable[str]) -> None:
        """Model files given on the command line must be what their key says (a song is not a HuBERT), read
        with the same checks ``rvclora inspect`` uses, before they can be stored."""
        from rvclora.inspect.stage import KIND_LABELS, describe

        for name in names:
            p: Path | None = self.settings.get(name)
            if name not in ASSET_KINDS or p is None:
                continue
            kinds, wanted, example = ASSET_KINDS[name]
            hint = f"give {wanted} such as {example}"
            try:
                kind = describe(p)["kind"]
            except BadInputError as exc:
                raise ConfigError(f"{self.origin(name)}: {p.name} is not {wanted} ({exc.message})", hint) from None
            if kind not in kinds:
                raise ConfigError(f"{self.origin(name)}: {p.name} is not {wanted} (it is: {KIND_LABELS[kind]})", hint)

    def _check_f0_method(self) -> None:
        """An F0 method that needs a model file needs it configured (else every extract would fail)."""
        if self.settings.f0_method == "rmvpe" and self.settings.assets.rmvpe is None:
            raise ConfigError(
                f"{self.origin('f0_method')}: f0_method rmvpe needs the RMVPE model, and assets.rmvpe is not set",
                "give --rmvpe path/to/rmvpe.pt, or choose another --f0-method",
            )

    def _check_lora(self) -> None:
        """Let LoRAConfig judge combinations the per-key checks cannot (e.g. an unknown target preset)."""
        from rvclora.lora.config import LoRAConfig

        try:
            LoRAConfig.from_dict(self.settings.lora.as_dict())
        except ConfigError as exc:
            names = [n for n in KEYS if n.startswith("lora.") and self.origin(n) != "default"]
            where = self.origin(names[0]) if len(names) == 1 else "lora settings"
            raise ConfigError(f"{where}: {exc.message}", exc.hint) from None

    def origin(self, name: str) -> str:
        """Where the effective value of a dotted key came from (for messages)."""
        return self._layer.origin[name]

    def _to_file_path(self, name: str, value: Any) -> Any:
        """Store a path from the command line relative to the workspace when inside it, else absolute."""
        if KEYS[name].kind != "path" or value is None:
            return value
        p = Path(value)
        try:
            return p.relative_to(self.root).as_posix() or "."
        except ValueError:
            return str(p)

    def _write_config(self, values: dict[str, Any]) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"cannot create workspace {self.root}: {exc.strerror}", "choose a writable folder"
            ) from exc
        with atomic_write(self.config_path) as tmp:
            tmp.write_text(render_yaml(values, HEADER), encoding="utf-8")

    @property
    def sample_rate(self) -> int:
        """The model rate in Hz (``sr: 40k`` -> 40000)."""
        return SAMPLE_RATES[self.settings.sr]

    @property
    def f0_method(self) -> str:
        """The pitch extractor to use: ``auto`` resolves to rmvpe when an RMVPE file is configured, else harvest."""
        method = self.settings.f0_method
        if method == "auto":
            return "rmvpe" if self.settings.assets.rmvpe is not None else "harvest"
        return method

    # --- layout ---------------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def input_dir(self) -> Path:
        return self.settings.input

    def clips_dir(self, sr: str | None = None) -> Path:
        """Clips at the model rate (``clips/40k``), or at another rate name such as ``"16k"``."""
        return self.root / "clips" / (sr or self.settings.sr)

    @property
    def clips_16k_dir(self) -> Path:
        return self.clips_dir("16k")

    @property
    def features_dir(self) -> Path:
        return self.root / "features"

    @property
    def f0_dir(self) -> Path:
        return self.root / "f0"

    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def adapters_dir(self) -> Path:
        return self.root / "adapters"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def manifest(self) -> Manifest:
        """The stage manifest (loaded once per Workspace object)."""
        if self._manifest is None:
            self._manifest = Manifest(self.state_dir / "manifest.json", self.root)
        return self._manifest

    @contextlib.contextmanager
    def lock(self, command: str) -> Iterator[None]:
        """Hold the workspace lock while ``command`` runs (WorkspaceBusyError if another command holds it).

        First the folders commands write to must resolve inside the workspace (see rvclora.workspace.confine).
        If the command fails, the folders the lock had to create are removed again when still empty, so a
        command that fails on a new (or typo'd) workspace leaves no folder behind.
        """
        require_confined(
            self.root,
            (
                self.root / "clips",
                self.clips_dir(),
                self.clips_16k_dir,
                self.features_dir,
                self.f0_dir,
                self.index_dir,
                self.checkpoints_dir,
                self.adapters_dir,
                self.logs_dir,
                self.state_dir,
            ),
        )
        created = [p for p in (self.root, self.state_dir) if not p.exists()]
        try:
            with hold_lock(self.state_dir / "lock", command):
                yield
        except BaseException:
            for folder in reversed(created):
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only succeeds on an empty folder
            raise

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"


def _check_device(device: Any) -> None:
    """A device given on the command line must exist on this machine before it is recorded in rvclora.yaml;
    otherwise one failed ``--device cuda`` would break every later command in the workspace."""
    if device not in (None, "auto"):
        from rvclora.devices import resolve_device

        resolve_device(device)
