"""Settings files are untrusted input: aliases, deep nesting and huge files are refused fast, in one line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers_assets import one_line, run_cli

from rvclora.errors import ConfigError
from rvclora.workspace.yamlfile import MAX_BYTES, parse_yaml


def alias_bomb(levels: int = 12, width: int = 9) -> str:
    """``sr: [&x0 [a, ...], &x1 [*x0, ...], ...]``: a few hundred bytes that expand to width**levels items."""
    items = [f"&x0 [{', '.join('a' * 1 for _ in range(width))}]"]
    items += [f"&x{i} [{', '.join(f'*x{i - 1}' for _ in range(width))}]" for i in range(1, levels)]
    return f"sr: [{', '.join(items)}]\n"


BOMBS = {
    "alias bomb": alias_bomb(),
    "plain alias": "sr: &r 40k\nversion: *r\n",
    "deep nesting": "sr: " + "[" * (MAX_BYTES - 10),
    "deep mapping": "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 40)),
    "huge": "# padding\n" * (MAX_BYTES // 10 + 1) + "sr: 40k\n",
}


@pytest.mark.parametrize("text", BOMBS.values(), ids=BOMBS.keys())
def test_refused_in_under_a_second(text: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, "rvclora.yaml")
    assert time.perf_counter() - start < 1.0
    assert "rvclora.yaml" in info.value.message and "\n" not in str(info.value)


def test_ordinary_settings_still_parse() -> None:
    data, lines = parse_yaml("sr: 40k\ntrain:\n  betas: [0.8, 0.99]  # c\n", "f")
    assert data == {"sr": "40k", "train": {"betas": [0.8, 0.99]}} and lines == {"sr": 1, "train": 2, "train.betas": 3}


def test_workspace_bomb_exits_2_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "v"
    ws.mkdir()
    (ws / "rvclora.yaml").write_text(alias_bomb())
    code, _, err = run_cli(capsys, "preprocess", str(ws))
    assert code == 2 and "aliases" in one_line(err)


def test_user_config_bomb_exits_2_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "xdg" / "rvclora" / "config.yaml"  # XDG_CONFIG_HOME is tmp_path/xdg (conftest)
    config.parent.mkdir(parents=True)
    config.write_text(alias_bomb())
    (tmp_path / "v" / "raw").mkdir(parents=True)
    code, _, err = run_cli(capsys, "preprocess", str(tmp_path / "v"))
    line = one_line(err)
    assert code == 2 and "user config" in line and "aliases" in line
    assert not (tmp_path / "v" / "rvclora.yaml").exists()
