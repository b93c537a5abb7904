"""Validating settings and layering them: defaults <- user config <- environment <- rvclora.yaml <- command line.

Each layer is a flat ``{dotted key: value}`` dict plus where every value came from, so any error names the
key and its origin (``rvclora.yaml line 12``, ``$RVCLORA_HUBERT``, ``--sr``). Paths from the user config,
the environment and the command line are made absolute when read, because they are relative to a different
folder (the config file's, or the current one) than paths in rvclora.yaml (the workspace's).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rvclora.errors import ConfigError
from rvclora.workspace.schema import ENV_VARS, KEYS, SECTION_NAMES, SECTIONS, TOP, UNSET_VALUES, Key, defaults
from rvclora.workspace.yamlfile import read_yaml

_SECTION_KEYS = {s.name: [k.name for k in s.keys] for s in SECTIONS}
_TOP_NAMES = [k.name for k in TOP] + list(SECTION_NAMES)


@dataclass
class Layer:
    """Values of one settings source (flat dotted keys) and, per key, a phrase saying where it came from."""

    values: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)


def flag_for(name: str) -> str:
    """The command-line flag that sets a dotted key, by convention (``assets.base_d`` -> ``--base-d``)."""
    return "--" + name.rsplit(".", 1)[-1].replace("_", "-")


def check_value(name: str, value: Any, where: str) -> Any:
    """Validate one value against the schema; return it normalised (an int given for a float becomes a float)."""
    key = KEYS[name]
    if value is None:
        if key.nullable:
            return None
        raise ConfigError(f"{where}: '{name}' cannot be empty", f"set a value, the default is {key.default!r}")
    checked = _check_kind(key, value)
    if checked is _BAD:
        raise ConfigError(
            f"{where}: '{name}' must be {_kind_words(key)}, got {value!r}", f"the default is {_show(key.default)}"
        )
    if key.choices is not None and checked not in key.choices:
        close = difflib.get_close_matches(str(checked), [str(c) for c in key.choices], n=1)
        hint = f"did you mean '{close[0]}'?" if close else "choose one of " + ", ".join(map(str, key.choices))
        raise ConfigError(f"{where}: '{name}' must be one of {', '.join(map(str, key.choices))}, got {checked!r}", hint)
    if key.pattern is not None and not re.fullmatch(key.pattern, checked):
        raise ConfigError(f"{where}: '{name}' must match {key.pattern.replace('|', ' | ')}, got {checked!r}")
    if isinstance(checked, (int, float)) and not isinstance(checked, bool):
        if key.minimum is not None and checked < key.minimum:
            raise ConfigError(f"{where}: '{name}' must be at least {key.minimum:g}, got {checked!r}")
        if key.maximum is not None and checked > key.maximum:
            raise ConfigError(f"{where}: '{name}' must be at most {key.maximum:g}, got {checked!r}")
    return checked


_BAD = object()


def _check_kind(key: Key, v: Any) -> Any:
    is_num = isinstance(v, (int, float)) and not isinstance(v, bool)
    if key.kind == "int":
        return v if isinstance(v, int) and not isinstance(v, bool) else _BAD
    if key.kind == "float":
        return float(v) if is_num else _BAD
    if key.kind == "bool":
        return v if isinstance(v, bool) else _BAD
    if key.kind in ("str", "path"):
        return v if isinstance(v, str) and v.strip() else _BAD
    if key.kind == "floats":
        ok = isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        return [float(x) for x in v] if ok else _BAD
    if key.kind == "strs":
        return list(v) if isinstance(v, list) and all(isinstance(x, str) for x in v) else _BAD
    if key.kind == "str_or_strs":
        if isinstance(v, str) and v.strip():
            return v
        return list(v) if isinstance(v, list) and v and all(isinstance(x, str) for x in v) else _BAD
    return _BAD


def _kind_words(key: Key) -> str:
    words = {
        "int": "a whole number",
        "float": "a number",
        "bool": "true or false",
        "str": "a text value",
        "path": "a path",
        "floats": "a list of numbers",
        "strs": "a list of text values",
        "str_or_strs": "a text value or a list of text values",
    }[key.kind]
    return words + (" or null" if key.nullable else "")


def _show(v: Any) -> str:
    return "null" if v is None else str(v).lower() if isinstance(v, bool) else repr(v)


def flatten_file(data: Mapping[str, Any], lines: Mapping[str, int], label: str) -> Layer:
    """Validate a parsed settings file (unknown keys, types, choices) and flatten it to dotted keys."""
    layer = Layer()
    for top, value in data.items():
        top = str(top)
        where = f"{label} line {lines.get(top, '?')}"
        if top in _SECTION_KEYS:
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: '{top}' must be a section of 'key: value' lines, got {value!r}")
            for sub, subvalue in value.items():
                name = f"{top}.{sub}"
                sub_where = f"{label} line {lines.get(name, '?')}"
                if name not in KEYS:
                    raise _unknown(str(sub), _SECTION_KEYS[top], sub_where, section=top)
                layer.values[name] = check_value(name, subvalue, sub_where)
                layer.origin[name] = sub_where
        elif top in KEYS:
            layer.values[top] = check_value(top, value, where)
            layer.origin[top] = where
        else:
            raise _unknown(top, _TOP_NAMES, where, section=None)
    return layer


def _unknown(name: str, candidates: list[str], where: str, section: str | None) -> ConfigError:
    inside = f" in '{section}'" if section else ""
    homes = [s for s, keys in _SECTION_KEYS.items() if name in keys and s != section]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if homes:
        hint = "it belongs under " + " or ".join(f"'{h}:'" for h in homes)
    elif close:
        hint = f"did you mean '{close[0]}'?"
    else:
        hint = "see docs/workspace.md for the valid keys"
    return ConfigError(f"{where}: unknown setting '{name}'{inside}", hint)


def user_config_path() -> Path:
    """``$XDG_CONFIG_HOME/rvclora/config.yaml``, else ``~/.config/rvclora/config.yaml``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "rvclora" / "config.yaml"


def user_layer() -> Layer:
    """The user config (same schema); relative paths in it are relative to its own folder."""
    path = user_config_path()
    if not path.is_file():
        return Layer()
    label = f"user config {path}"
    layer = flatten_file(*read_yaml(path, label), label)
    return absolutize_paths(layer, path.parent)


def env_layer() -> Layer:
    """``$RVCLORA_BASE``, ``$RVCLORA_HUBERT`` ... (empty variables are ignored)."""
    layer = Layer()
    for var, name in ENV_VARS.items():
        raw = os.environ.get(var, "").strip()
        if raw:
            layer.values[name] = check_value(name, raw, f"${var}")
            layer.origin[name] = f"${var}"
    return absolutize_paths(layer, Path.cwd())


def override_layer(overrides: Mapping[str, Any] | None) -> Layer:
    """Command-line overrides: dotted keys (or nested dicts); None values mean "not given"."""
    layer = Layer()
    for name, value in _flatten_mapping(overrides or {}).items():
        if value is None:
            continue
        if name not in KEYS:
            raise ConfigError(f"unknown setting '{name}'", "see docs/workspace.md for the valid keys")
        flag = flag_for(name)
        layer.values[name] = check_value(name, str(value) if isinstance(value, os.PathLike) else value, flag)
        layer.origin[name] = flag
    return absolutize_paths(layer, Path.cwd())


def unset_keys(names: Iterable[str]) -> list[str]:
    """Validate dotted key names to clear (``rvclora config --unset``, ``--max-steps 0``)."""
    out = []
    for name in names:
        if name not in KEYS:
            close = difflib.get_close_matches(name, list(KEYS), n=1)
            raise ConfigError(
                f"unknown setting '{name}'",
                f"did you mean '{close[0]}'?" if close else "see docs/workspace.md for the valid keys",
            )
        out.append(name)
    return out


def parse_text(name: str, text: str) -> Any:
    """A value typed on the command line as text (``--set train.lr=1e-4``), read as YAML would read it in
    rvclora.yaml, except that numbers such as ``1e-4`` are numbers (plain YAML 1.1 keeps them as text)."""
    unset_keys([name])
    kind = KEYS[name].kind
    if kind in ("int", "float"):
        try:
            return int(text) if kind == "int" else float(text)
        except ValueError:
            pass
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return text
    if kind in ("str", "path") and value is not None and not isinstance(value, str):
        return text  # e.g. input=2024 is a folder name, not a number
    return value


def _flatten_mapping(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, Mapping):
            flat.update(_flatten_mapping(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def absolutize_paths(layer: Layer, base: Path) -> Layer:
    """Make the path values of a layer absolute against ``base`` (with ``~`` expanded)."""
    for name, value in layer.values.items():
        if KEYS[name].kind == "path" and value is not None:
            layer.values[name] = str((base / Path(value).expanduser()).resolve())
    return layer


def merge(file_layer: Layer, *, user: Layer, env: Layer, cli: Layer) -> Layer:
    """Effective settings. A null or "auto" in rvclora.yaml means "not set here", so it does not hide a value
    from the user config or the environment; the command line always wins."""
    result = Layer(defaults(), {name: "default" for name in KEYS})
    for layer in (user, env):
        result.values.update(layer.values)
        result.origin.update(layer.origin)
    for name, value in file_layer.values.items():
        if value in UNSET_VALUES and name in result.values and result.origin[name] != "default":
            continue
        result.values[name] = value
        result.origin[name] = file_layer.origin[name]
    result.values.update(cli.values)
    result.origin.update(cli.origin)
    return result


class SettingsView:
    """Read-only attribute access to effective settings: ``s.sr``, ``s.preprocess.window_s``,
    ``s.assets.hubert`` (an absolute Path or None)."""

    def __init__(self, values: Mapping[str, Any], prefix: str = "") -> None:
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, attr: str) -> Any:
        name = self._prefix + attr
        if name in self._values:
            return self._values[name]
        if not self._prefix and attr in SECTION_NAMES:
            return SettingsView(self._values, f"{attr}.")
        raise AttributeError(f"no setting '{name}'")

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError("settings are read-only; pass overrides to Workspace.open")

    def get(self, name: str) -> Any:
        """Value of a full dotted name (``"preprocess.window_s"``)."""
        return self._values[self._prefix + name]

    def as_dict(self) -> dict[str, Any]:
        """Nested plain dict (paths as strings) of this view, e.g. for JSON output or hashing."""
        nested: dict[str, Any] = {}
        for name, value in self._values.items():
            if not name.startswith(self._prefix):
                continue
            parts = name[len(self._prefix) :].split(".")
            node = nested
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = str(value) if isinstance(value, Path) else value
        return nested

    def __repr__(self) -> str:
        return f"SettingsView({self.as_dict()!r})"
