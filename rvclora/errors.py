"""User-facing error types.

Everything a user can cause (a bad path, a corrupt file, an adapter for another base) raises one of these;
the CLI catches them once and prints a single line with a hint and exit code 2. Any other exception is a
bug and shows a traceback only under ``--debug``.
"""

from __future__ import annotations


class RvcloraError(Exception):
    """Base class: a problem the user can fix. ``hint`` says what to do."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class BadInputError(RvcloraError):
    """An input file or folder is missing, unreadable, corrupt or of the wrong kind."""


class UnsafeFileError(BadInputError):
    """A checkpoint needs arbitrary Python objects to load; rvclora never unpickles those."""


class IncompatibleError(RvcloraError):
    """Two inputs do not fit together (adapter vs base, index dimension vs model version, ...)."""


class ConfigError(RvcloraError):
    """A setting in rvclora.yaml or on the command line is invalid."""


class OutputError(RvcloraError):
    """An output cannot be written (unwritable path, exists without --overwrite, disk full)."""


class DiskFullError(OutputError):
    """The destination's file system ran out of space; nothing half-written is kept."""


class MissingExtraError(RvcloraError):
    """An optional dependency is needed; the hint names the pip extra to install."""

    def __init__(self, what: str, extra: str, package: str) -> None:
        super().__init__(
            f"{what} needs the optional package '{package}'",
            f"install it with: pip install 'rvclora[{extra}]'",
        )


class WorkspaceBusyError(RvcloraError):
    """Another rvclora command holds the workspace lock."""


class RvcloraWarning(UserWarning):
    """Something the user should know that does not stop the command (e.g. a damaged manifest set aside).

    Library code emits these with :func:`warnings.warn`; the CLI prints each as one ``warning:`` line."""
