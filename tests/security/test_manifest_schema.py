"""A mistyped or truncated manifest is set aside with a warning that says what will be redone; no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_assets import run_cli

from rvclora.errors import RvcloraWarning
from rvclora.workspace.manifest import Manifest, schema_problem

BAD = {
    "wrong stage type": '{"format":1,"stages":{"preprocess":[1,2]}}',
    "wrong entry type": '{"format":1,"stages":{"preprocess":{"a.wav":"x"}}}',
    "outputs not a list": '{"format":1,"stages":{"preprocess":{"a.wav":{"inputs":{},"settings_hash":"h",'
    '"outputs":"clips/x.wav","info":{}}}}}',
    "mistyped info": '{"format":1,"stages":{"preprocess":{"a.wav":{"inputs":{},"settings_hash":"h",'
    '"outputs":[],"info":{"speaker_id":"abc"}}}}}',
    "no format": '{"stages":{}}',
    "a list": "[1, 2, 3]",
    "truncated": '{"format":1,"stages":{"preprocess":{"a.wav":{"inputs":',
}


@pytest.mark.parametrize("text", BAD.values(), ids=BAD.keys())
def test_bad_manifest_is_set_aside_with_a_warning(tmp_path: Path, text: str) -> None:
    path = tmp_path / ".rvclora" / "manifest.json"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.warns(RvcloraWarning, match="will be redone") as caught:
        m = Manifest(path, tmp_path)
    assert m.keys("preprocess") == []
    aside = list(path.parent.glob("manifest.json.bad-*"))
    assert len(aside) == 1 and aside[0].read_text() == text and not path.exists()
    assert aside[0].name in str(caught[0].message)


def test_the_warning_names_the_stages_to_redo(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(BAD["wrong stage type"])
    with pytest.warns(RvcloraWarning, match="preprocess work will be redone"):
        Manifest(path, tmp_path)


def test_a_sound_manifest_has_no_problem(tmp_path: Path) -> None:
    out = tmp_path / "clips" / "a.wav"
    out.parent.mkdir()
    out.write_bytes(b"x")
    m = Manifest(tmp_path / "manifest.json", tmp_path)
    m.record("preprocess", "a.wav", [out], {}, [out], {"clips": 1})
    assert schema_problem(json.loads(m.path.read_text())) is None


def test_cli_redoes_the_work_with_one_warning_line(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workspace / ".rvclora" / "manifest.json"
    path.write_text(BAD["wrong stage type"])
    code, out, err = run_cli(capsys, "preprocess", str(workspace), "--json")
    assert code == 0 and "Traceback" not in err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "set aside as manifest.json.bad-" in warnings[0], err
    assert json.loads(out)["processed"] == 2  # the work was redone
    assert schema_problem(json.loads(path.read_text())) is None
