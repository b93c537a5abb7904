"""The CLI starts fast: --help and --version never import torch."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\n"
        "from rvclora.cli import main\n"
        "try:\n"
        f"    main({list(args)!r})\n"
        "except SystemExit as e:\n"
        "    code = e.code\n"
        "else:\n"
        "    code = 0\n"
        "heavy = [m for m in ('torch', 'librosa', 'faiss', 'scipy') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
        "sys.exit(code)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_help_does_not_import_torch() -> None:
    res = _run("--help")
    assert res.returncode == 0, res.stderr
    assert "Usage" in res.stdout
    assert "HEAVY=\n" in res.stdout or res.stdout.rstrip().endswith("HEAVY=")


def test_version_does_not_import_torch() -> None:
    from rvclora import __version__

    res = _run("--version")
    assert res.returncode == 0
    assert f"rvclora {__version__}" in res.stdout
    assert res.stdout.rstrip().endswith("HEAVY=")


@pytest.mark.slow
def test_every_subcommand_help_is_light() -> None:
    import importlib.util

    from rvclora.cli import COMMANDS

    for name in COMMANDS:
        if importlib.util.find_spec(f"rvclora.commands.{name}") is None:
            continue
        res = _run(name, "--help")
        assert res.returncode == 0, (name, res.stderr)
        assert res.stdout.rstrip().endswith("HEAVY="), (name, res.stdout[-200:])
