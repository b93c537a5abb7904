"""Rich output shared by every command: one console for humans (stderr), stdout kept for data.

Results go to stdout as a rich table, or as JSON with ``--json``; progress and messages go to stderr so
that ``rvclora infer - -o - | ...`` and ``--json | jq`` pipelines stay clean. When stderr is not a terminal
(nohup, CI, ``| tee``) a live bar would only be drawn at the end, so progress becomes plain lines instead.
Table cells never lose characters: long paths and numbers wrap inside their column at any width.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

LINE_INTERVAL_S = 30.0  # without a terminal: one progress line per task at most this often (plus the last one)


def progress(transient: bool = False) -> Progress:
    """The standard progress display for long work, on stderr: a live bar on a terminal, plain lines otherwise."""
    if not err.is_terminal:
        return LineProgress(LINE_INTERVAL_S)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}", justify="left"),
        console=err,
        transient=transient,
    )


class LineProgress(Progress):
    """Progress for logs and pipes: no live display; a plain line per task every ``interval_s`` and at the end.

    A line reads ``train: 120/1000 (12%) | 2.31/s | elapsed 52s | ETA 6m20s | <status>``; the status field is
    what the command shows beside its bar (for train: epoch and losses).
    """

    def __init__(self, interval_s: float) -> None:
        super().__init__(console=err, disable=True)
        self.interval_s = interval_s
        self._last_line: dict[TaskID, float] = {}
        self._reported: dict[TaskID, float] = {}  # completed count at the last line

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        self._maybe_report(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._maybe_report(task_id)

    def stop(self) -> None:
        super().stop()
        for task in self.tasks:
            if task.completed != self._reported.get(task.id, 0.0):
                self._report(task.id)

    def _maybe_report(self, task_id: TaskID) -> None:
        task = self._tasks[task_id]
        if task.completed == self._reported.get(task_id, 0.0):
            return  # nothing done since the last line (e.g. only the status changed)
        last = self._last_line.get(task_id)
        if last is None or time.monotonic() - last >= self.interval_s or task.finished:
            self._report(task_id)

    def _report(self, task_id: TaskID) -> None:
        task = self._tasks[task_id]
        self._last_line[task_id] = time.monotonic()
        self._reported[task_id] = task.completed
        done = f"{task.completed:.0f}"
        parts = [
            f"{task.description}: {done}/{task.total:.0f} ({task.percentage:.0f}%)"
            if task.total
            else f"{task.description}: {done}"
        ]
        if task.speed:
            parts.append(f"{task.speed:.3g}/s")
        if task.elapsed is not None:
            parts.append(f"elapsed {duration(task.elapsed)}")
        if task.total and not task.finished and task.time_remaining is not None:
            parts.append(f"ETA {duration(task.time_remaining)}")
        status = str(task.fields.get("status") or "").strip()
        if status:
            parts.append(status)
        err.print(" | ".join(parts), markup=False, highlight=False, soft_wrap=True)


def duration(seconds: float) -> str:
    """``52s``, ``6m20s``, ``2h05m``: short, for progress lines."""
    s = int(round(max(seconds, 0.0)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def plain(value: Any) -> str:
    """A value as a person reads it: no Python reprs (``None``, ``True``, ``138.6778991699219``, ``inf``).

    None is empty, booleans are yes/no, floats keep four significant digits (whole numbers stay whole),
    lists and dicts are written out item by item.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if value.is_integer() and abs(value) < 1e15:
            return f"{value:.0f}"
        return f"{value:.1f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={plain(v) or 'none'}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v) for v in value)
    return str(value)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A result table; without column names it is a key/value list with no (blank) header row.

    Every column folds long cells onto more lines instead of cutting them with "…".
    """
    t = Table(title=title, title_justify="left", header_style="bold", show_header=any(columns))
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*(plain(v) for v in r))
    return t


def show(renderable: Any) -> None:
    out.print(renderable)


def emit_json(obj: Any) -> None:
    """Print one JSON document to stdout (plain, no rich markup) for scripts."""
    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")
    sys.stdout.flush()


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "__fspath__"):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} GB"
