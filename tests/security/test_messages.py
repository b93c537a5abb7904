"""Messages that name the right thing: legacy pickles, damaged indexes, commands that exist."""

from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path

import pytest
import torch
from helpers_assets import one_line, run_cli

from rvclora.cli import COMMANDS
from rvclora.errors import BadInputError, UnsafeFileError
from rvclora.fileio import safe_torch_load

SOURCE = Path(__file__).resolve().parents[2] / "rvclora"


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("obj", [{"w": [1.0, 2.0]}, _Payload()], ids=["plain", "payload"])
def test_raw_pickle_is_refused_for_safety_without_torch_warnings(tmp_path: Path, obj: object) -> None:
    path = tmp_path / "model.pth"
    path.write_bytes(pickle.dumps(obj, protocol=4))
    with warnings.catch_warnings(record=True) as caught, pytest.raises(UnsafeFileError) as info:
        warnings.simplefilter("always")
        safe_torch_load(path, "model")
    assert "a legacy pickle file, refused for safety" in info.value.message
    assert caught == []


def test_legacy_torch_format_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "old.pth"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    assert torch.equal(safe_torch_load(path)["w"], torch.ones(2))


def test_inspect_a_pickle_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "model.pth"
    path.write_bytes(pickle.dumps({"w": 1}, protocol=4))
    code, _, err = run_cli(capsys, "inspect", str(path))
    assert code == 2 and "refused for safety" in one_line(err) and "Warning" not in err


def test_damaged_index_names_the_command_that_rebuilds_it(tmp_path: Path) -> None:
    from rvclora.features.index import load_index

    path = tmp_path / "added_IVF1_Flat_nprobe_1_voice_v2.index"
    path.write_bytes(b"not an index")
    with pytest.raises(BadInputError) as info:
        load_index(path)
    assert "rvclora extract" in str(info.value)


def test_every_command_a_message_names_exists() -> None:
    named = {m for f in SOURCE.rglob("*.py") for m in re.findall(r"`rvclora (\w+)", f.read_text(encoding="utf-8"))}
    assert named and named <= set(COMMANDS), named - set(COMMANDS)
