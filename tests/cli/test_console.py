"""Output for logs and pipes: plain progress lines without a terminal, tables that never cut cells at 80
columns, no blank header rows and no Python reprs."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import soundfile as sf
from helpers_assets import voice_like
from rich.console import Console

from rvclora import console


@pytest.fixture
def piped(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stderr and stdout as a pipe (not a terminal) at 80 columns."""
    err_buf, out_buf = io.StringIO(), io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=err_buf, width=80, highlight=False, soft_wrap=True))
    monkeypatch.setattr(console, "out", Console(file=out_buf, width=80, highlight=False, soft_wrap=True))
    err_buf.out = out_buf  # type: ignore[attr-defined]
    return err_buf


def test_progress_without_a_terminal_prints_lines_with_rate_and_eta(
    piped: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "LINE_INTERVAL_S", 0.0)
    with console.progress() as bar:
        task = bar.add_task("train", total=4, status="")
        for step in range(4):
            bar.update(task, advance=1, status=f"e1 mel {step}.50")
    lines = piped.getvalue().splitlines()
    assert [line.split(" | ")[0] for line in lines] == [f"train: {n}/4 ({25 * n}%)" for n in range(1, 5)]
    assert "/s" in lines[2] and "ETA" in lines[2] and lines[2].endswith("e1 mel 2.50")
    assert "ETA" not in lines[-1]  # finished


def test_progress_lines_are_rate_limited_but_the_last_one_always_comes(piped: io.StringIO) -> None:
    with console.progress() as bar:  # the default interval: far longer than this test
        task = bar.add_task("extract", total=None, status="loading models")
        bar.update(task, status="still loading")  # no work done yet: no line
        bar.update(task, total=100, status="")
        for _ in range(99):
            bar.update(task, advance=1, status="clip")
    lines = piped.getvalue().splitlines()
    assert [line.split(" | ")[0] for line in lines] == ["extract: 1/100 (1%)", "extract: 99/100 (99%)"]


def test_tables_fold_long_cells_at_80_columns_and_hide_blank_headers(piped: io.StringIO) -> None:
    path = "/data/" + "/".join(f"folder_{i:02d}" for i in range(12)) + "/voice.safetensors"
    console.show(
        console.table(
            "summary", ["", ""], [("output", path), ("loss", 138.6778991699219), ("best", None), ("merged", True)]
        )
    )
    text = piped.out.getvalue()  # type: ignore[attr-defined]
    assert "…" not in text and all(len(line) <= 80 for line in text.splitlines())
    assert path in "".join(re.sub(r"[│ ]", "", line) for line in text.splitlines())
    assert "┃" not in text  # no header row at all, so no blank one
    assert "138.7" in text and "138.67789" not in text and "None" not in text and "True" not in text


def test_plain_never_shows_a_repr() -> None:
    assert [
        console.plain(v) for v in (None, True, 3.0, 0.000123456, float("inf"), {"a": None, "b": 0.5}, [1.5, 2])
    ] == ["", "yes", "3", "0.0001235", "∞", "a=none, b=0.5", "1.5, 2"]


def test_preprocess_through_a_pipe_shows_progress_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real command, its stderr captured (not a terminal): progress arrives as plain lines."""
    from rvclora.cli import main

    monkeypatch.setenv("COLUMNS", "80")
    (tmp_path / "ws" / "raw").mkdir(parents=True)
    sf.write(tmp_path / "ws" / "raw" / "take.wav", voice_like(1.5, 16000), 16000)
    with pytest.raises(SystemExit) as exit_info:
        main(["preprocess", str(tmp_path / "ws")])
    assert exit_info.value.code == 0
    captured = capsys.readouterr()
    assert "preprocess: 1/1 (100%)" in captured.err
    assert "…" not in captured.out and "┃" not in captured.out


def test_train_summary_has_no_reprs(piped: io.StringIO) -> None:
    from rvclora.commands.train import _show
    from rvclora.train.workflow import TrainSummary

    _show(
        TrainSummary(
            output="ws/adapters/ws.safetensors",
            epochs=1,
            steps=12,
            stopped="finished",
            resumed_from=None,
            discriminator="base",
            last_mel=138.6778991699219,
            last_val_mel=None,
        )
    )
    text = piped.out.getvalue()  # type: ignore[attr-defined]
    assert "138.7" in text and "138.67" not in text and "None" not in text and "resumed_from" not in text
