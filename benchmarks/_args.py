"""Argument types shared by the benchmark scripts."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def pair(kind: type[int] | type[float]) -> Callable[[str], tuple]:
    """An argparse type for ``A:B`` (two numbers of ``kind``), so a typo is argparse's one-line error."""

    def parse(text: str) -> tuple:
        a, sep, b = text.partition(":")
        try:
            if not sep:
                raise ValueError
            return kind(a), kind(b)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected A:B with two {kind.__name__} numbers, got {text!r}") from None

    return parse
