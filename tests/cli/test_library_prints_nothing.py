"""Library code returns results and prints nothing: only the command layer renders (rvclora/commands/,
rvclora/console.py, rvclora/cli.py). A scan of every other module's syntax tree finds ``print(...)``, writes to
``sys.stderr``, and imports of rich or of ``rvclora.console``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rvclora"
RENDERERS = ("commands/", "console.py", "cli.py")  # relative to the package


def rendering(source: str) -> list[str]:
    """What in ``source`` prints or renders, as ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in modules:
            if name == "rich" or name.startswith("rich.") or name == "rvclora.console":
                found.append(f"{node.lineno}: imports {name}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            found.append(f"{node.lineno}: print()")
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "stderr"
            and isinstance(node.value, ast.Name)
            and node.value.id == "sys"
        ):
            found.append(f"{node.lineno}: sys.stderr")
    return found


def library_modules() -> list[Path]:
    paths = sorted(PACKAGE.rglob("*.py"))
    return [p for p in paths if not p.relative_to(PACKAGE).as_posix().startswith(RENDERERS)]


def test_library_modules_print_nothing() -> None:
    modules = library_modules()
    assert len(modules) > 50 and PACKAGE / "train" / "loop.py" in modules
    found = {
        p.relative_to(PACKAGE).as_posix(): hits for p in modules if (hits := rendering(p.read_text(encoding="utf-8")))
    }
    assert found == {}, "library code renders; move it to rvclora/commands/ (results, callbacks or warnings)"


@pytest.mark.parametrize(
    "source",
    [
        "print('hello')",
        "def f():\n    print(1, file=None)",
        "from rvclora.console import err",
        "from rvclora import console",
        "import rvclora.console",
        "from rich.progress import Progress",
        "import rich.console",
        "import sys\nsys.stderr.write('x')",
    ],
)
def test_the_scan_finds_each_way_of_printing(source: str) -> None:
    assert rendering(source)


def test_the_scan_passes_quiet_code() -> None:
    quiet = "import sys\nimport warnings\nfrom rvclora.errors import RvcloraWarning\nsys.stdout.buffer.write(b'')\n"
    assert rendering(quiet + "warnings.warn(RvcloraWarning('told through warnings'))\nfingerprint(1)") == []
