"""Reading and writing settings files as YAML text, with line numbers for errors and comments kept.

Reading composes the node tree as well as the data, so every error can name the line of the offending key.
Writing regenerates the whole text from the schema (values + comments) instead of dumping a dict: PyYAML
would drop the comments, and a file a user edits should explain itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rvclora.errors import ConfigError
from rvclora.workspace.schema import SECTIONS, TOP, Key

COMMENT_COLUMN = 34
# Bounds checked before a document is built (a workspace's rvclora.yaml may come from anyone): the generated
# file is ~6 KB and two levels deep, and rvclora's files never use anchors/aliases (*x), whose nesting can make
# a few hundred bytes expand into gigabytes (the "billion laughs").
MAX_BYTES = 32 * 1024
MAX_DEPTH = 16
# libyaml's event parser when PyYAML has it (100x faster on pathological input); the pure one otherwise.
_EVENTS_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path, label: str) -> tuple[dict[str, Any], dict[str, int]]:
    """Return ``(nested data, {dotted key: line number})`` of a settings file; ``label`` names it in errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {label}: {exc}", "check the file and its permissions") from exc
    return parse_yaml(text, label)


def _check_bounds(text: str, label: str) -> None:
    """Refuse a document that is too large, too deep or uses aliases, streaming its events (nothing is built)."""
    if len(text) > MAX_BYTES:
        raise ConfigError(
            f"{label} is {len(text) // 1024} KB, more than a settings file needs ({MAX_BYTES // 1024} KB at most)",
            "check the file; rvclora writes ~6 KB",
        )
    depth = 0
    for event in yaml.parse(text, Loader=_EVENTS_LOADER):
        if isinstance(event, yaml.AliasEvent):
            raise ConfigError(
                f"{label} line {_event_line(event)}: YAML aliases (*{event.anchor}) are not allowed in settings files",
                "write the value out instead",
            )
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(
                    f"{label} line {_event_line(event)}: nested more than {MAX_DEPTH} levels deep",
                    "settings are at most a section, a key and a list",
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _event_line(event: yaml.Event) -> int | str:
    """The 1-based line an event starts on (the parser marks every event)."""
    return event.start_mark.line + 1 if event.start_mark is not None else "?"


def parse_yaml(text: str, label: str) -> tuple[dict[str, Any], dict[str, int]]:
    """Parse settings text; malformed YAML, duplicate keys, aliases, excessive size or depth, or a non-mapping
    top level raise ConfigError."""
    try:
        _check_bounds(text, label)
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{label}{where}: malformed YAML ({problem})", "fix the syntax or delete the line") from exc
    if node is None:
        return {}, {}
    if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
        raise ConfigError(f"{label} line {node.start_mark.line + 1}: expected 'key: value' lines at the top level")
    lines: dict[str, int] = {}
    _collect_lines(node, "", lines, label)
    return data, lines


def _collect_lines(node: yaml.MappingNode, prefix: str, lines: dict[str, int], label: str) -> None:
    for key_node, value_node in node.value:
        name = prefix + str(key_node.value)
        if name in lines:
            raise ConfigError(
                f"{label} line {key_node.start_mark.line + 1}: '{name}' is set twice (also line {lines[name]})",
                "keep one of them",
            )
        lines[name] = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.MappingNode):
            _collect_lines(value_node, name + ".", lines, label)


def format_value(value: Any) -> str:
    """One YAML scalar or flow list, quoted only where YAML needs it."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000, allow_unicode=True)
    return text.removesuffix("...\n").strip()


def _line(indent: str, key: Key, value: Any) -> str:
    body = f"{indent}{key.name}: {format_value(value)}"
    comment = key.comment + (f" ({' / '.join(map(str, key.choices))})" if key.choices else "")
    return f"{body.ljust(COMMENT_COLUMN - 1)} # {comment}"


def render_yaml(values: dict[str, Any], header: str) -> str:
    """The full text of a settings file: every key of the schema with its value from ``values`` (dotted)."""
    out = [f"# {line}" if line else "#" for line in header.splitlines()]
    out.append("")
    out.extend(_line("", k, values[k.name]) for k in TOP)
    for section in SECTIONS:
        out += ["", f"# {section.comment}", f"{section.name}:"]
        out.extend(_line("  ", k, values[f"{section.name}.{k.name}"]) for k in section.keys)
    return "\n".join(out) + "\n"
