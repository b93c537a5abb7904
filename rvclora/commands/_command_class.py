"""The click command class of every subcommand: conventional help names and hidden option aliases.

Typer's own help writes ``<bool>`` beside flags, ``<int range>``/``<path>`` as types and ``{workspace}`` in
usage lines. rvclora's help uses the names people know from other tools: ``WORKSPACE``, ``INTEGER``,
``PATH``, ``[v1|v2]``, and nothing beside a flag.

``HIDDEN_ALIASES`` keeps old option names working without showing them: ``--version`` meant the model
version in subcommands, but the program version at top level, so subcommands now say ``--model-version``.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

# old name → current name; rewritten only in commands that have the current name and not the old one
HIDDEN_ALIASES = {"--version": "--model-version"}

_TYPE_NAMES = {
    "int": "INTEGER",
    "float": "FLOAT",
    "str": "TEXT",
    "bool": "BOOLEAN",
    "path": "PATH",
    "file": "FILE",
    "directory": "DIRECTORY",
    "int range": "INTEGER RANGE",
    "float range": "FLOAT RANGE",
}


def _conventional(typer_label: str | None, is_choice: bool) -> str | None:
    """``<int range>`` → ``INTEGER RANGE``, ``<32k|40k>`` → ``[32k|40k]``."""
    if not typer_label:
        return typer_label
    label = typer_label[1:-1] if typer_label.startswith("<") and typer_label.endswith(">") else typer_label
    if is_choice:
        return f"[{label}]"
    return _TYPE_NAMES.get(label, label.upper())


def _parse_choices(param: Any, value: Any) -> Any:
    """A typed choice becomes its member (case does not count), or the one-line error rvclora gives everywhere
    for an unknown choice (:meth:`rvclora.choices.Choice.parse`) instead of click's usage box."""
    from rvclora.choices import Choice

    choices = param.type_descriptor.choices if param.type_descriptor.is_choice else None
    if not choices or not isinstance(choices[0], Choice) or value is None:
        return value
    kind = type(choices[0])
    if isinstance(value, (list, tuple)):
        return type(value)(kind.parse(v) for v in value)
    return kind.parse(value)


class PlainOption(TyperOption):
    def display_type(self, ctx: Any) -> Any:
        if self.is_flag:
            return None  # a flag takes no value: show no type
        return _conventional(super().display_type(ctx), self.type_descriptor.is_choice)

    def process_value(self, ctx: Any, value: Any) -> Any:
        return super().process_value(ctx, _parse_choices(self, value))


class PlainArgument(TyperArgument):
    def display_type(self, ctx: Any) -> Any:
        return _conventional(super().display_type(ctx), self.type_descriptor.is_choice)

    def process_value(self, ctx: Any, value: Any) -> Any:
        return super().process_value(ctx, _parse_choices(self, value))

    def _usage_display_name(self) -> str:
        name = (self.metavar or self.name or "").upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")


class _PlainParams:
    """Gives a command's parameters (--help included) the display methods above; their state is unchanged."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if type(param) is TyperOption:
                param.__class__ = PlainOption
            elif type(param) is TyperArgument:
                param.__class__ = PlainArgument
        return params


class RvcloraGroup(_PlainParams, TyperGroup):
    """The top-level ``rvclora`` group, with conventional help names."""


class RvcloraCommand(_PlainParams, TyperCommand):
    """A Typer command with conventional help names and the hidden aliases of renamed options."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        names = {opt for param in self.params for opt in (*param.opts, *param.secondary_opts)}
        rewritten: list[str] = []
        for i, arg in enumerate(args):
            if arg == "--":
                rewritten += args[i:]
                break
            head, sep, value = arg.partition("=")
            new = HIDDEN_ALIASES.get(head)
            if new is not None and head not in names and new in names:
                arg = new + sep + value
            rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


def use_everywhere(app: Any) -> None:
    """Give every command registered on ``app`` this class (unless one asked for its own)."""
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = RvcloraCommand
