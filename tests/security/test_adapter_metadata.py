"""Hostile adapter metadata (deeply nested, huge) is refused in one line by read_adapter, inspect, merge, infer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers_assets import one_line, run_cli
from safetensors.torch import save_file

from rvclora.errors import BadInputError
from rvclora.lora.adapter import MAX_META_BYTES, META_KEY, read_adapter


def _nested(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


def _safetensors(path: Path, meta_text: str) -> Path:
    save_file({"dec.conv_pre.lora_A": torch.ones(2, 4, 1)}, str(path), metadata={META_KEY: meta_text})
    return path


def _meta(**extra: object) -> dict[str, object]:
    return {"format": "rvclora.lora", "format_version": 1, **extra}


HOSTILE = {
    "100k brackets": lambda d: _safetensors(d / "a.safetensors", "[" * 100_000),
    "valid but 40 deep": lambda d: _safetensors(d / "b.safetensors", json.dumps(_meta(info=_nested(40)))),
    "huge": lambda d: _safetensors(d / "c.safetensors", json.dumps(_meta(info="x" * (MAX_META_BYTES + 1)))),
    "pth 40 deep": lambda d: (torch.save({META_KEY: _meta(info=_nested(40)), "tensors": {}}, d / "d.pth"), d / "d.pth")[
        1
    ],
    "pth huge": lambda d: (
        torch.save({META_KEY: _meta(info="x" * (MAX_META_BYTES + 1)), "tensors": {}}, d / "e.pth"),
        d / "e.pth",
    )[1],
}


@pytest.mark.parametrize("make", HOSTILE.values(), ids=HOSTILE.keys())
def test_read_adapter_refuses(tmp_path: Path, make) -> None:
    path = make(tmp_path)
    with pytest.raises(BadInputError, match="metadata") as info:
        read_adapter(path)
    assert path.name in info.value.message


def test_real_adapter_still_reads(tiny_adapter: Path) -> None:
    tensors, meta = read_adapter(tiny_adapter)
    assert tensors and meta.to_dict()["format"] == "rvclora.lora"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["inspect", "merge", "infer"])
def test_commands_exit_2_in_one_line(
    tmp_path: Path, tiny_base: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = HOSTILE["100k brackets"](tmp_path)
    args = {
        "inspect": ["inspect", str(bad)],
        "merge": ["merge", "--base", str(tiny_base), "--lora", str(bad), "-o", str(tmp_path / "out.pth")],
        "infer": [
            "infer",
            str(tmp_path / "in.wav"),
            "--base",
            str(tiny_base),
            "--lora",
            str(bad),
            "-o",
            str(tmp_path / "out.wav"),
            "--device",
            "cpu",
        ],
    }[command]
    if command == "infer":
        import numpy as np
        import soundfile as sf

        sf.write(tmp_path / "in.wav", 0.3 * np.sin(np.arange(16000, dtype=np.float32) * 0.08), 16000)  # not silent
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and "nested more than" in one_line(err)
    assert not (tmp_path / "out.pth").exists() and not (tmp_path / "out.wav").exists()
