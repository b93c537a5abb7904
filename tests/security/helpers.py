"""Helpers of the adversarial tests: one-line error checks (the CLI runner: helpers_assets)."""

from __future__ import annotations


def one_line(text: str) -> str:
    """The single non-empty line of ``text`` (fails when there are several, or a traceback)."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]
