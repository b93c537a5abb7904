"""The ``rvclora infer`` run: plan outputs, load once, convert every input, write atomically, summarise."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rvclora.errors import BadInputError, RvcloraError
from rvclora.infer.batch import Job, collect_inputs, plan_jobs
from rvclora.infer.voices import voice_names


def run_infer(
    inputs: list[str],
    output: str,
    converter_args: dict[str, Any],
    suffix: str = "",
    fmt: str | None = None,
    subtype: str | None = None,
    overwrite: bool = False,
    recursive: bool = False,
    as_json: bool = False,
) -> list[dict[str, Any]]:
    """Convert ``inputs`` to ``output``; returns (and prints) one summary row per output."""
    from rvclora.infer.converter import Converter

    sources = collect_inputs(inputs, recursive)
    names = voice_names(list(converter_args.get("lora") or []), converter_args.get("model"),
                        bool(converter_args.get("each")))
    jobs = plan_jobs(sources, output, names, suffix, fmt)
    rows: list[dict[str, Any]] = []
    todo = []
    for job in jobs:
        if job.existing() and not overwrite:
            rows += [_row(job, voice, dest, "skipped (exists)") for voice, dest in job.outputs.items()]
        else:
            todo.append(job)
    if todo:
        converter = Converter(**converter_args)
        rows += _convert_all(converter, todo, subtype, single=len(jobs) == 1)
    _summarise(rows, as_json, to_stderr=output == "-")
    failed = [r for r in rows if r["status"].startswith("failed")]
    if failed:
        raise BadInputError(f"{len(failed)} of {len(rows)} conversions failed (see the table above)",
                            "fix or remove those inputs and run again; finished outputs are kept")
    return rows


def _convert_all(converter: Any, jobs: list[Job], subtype: str | None, single: bool) -> list[dict[str, Any]]:
    from rvclora.console import progress

    rows: list[dict[str, Any]] = []
    if single:  # one input: errors are the command's error, no progress bar
        return _convert_one(converter, jobs[0], subtype)
    with progress() as bar:
        task = bar.add_task("converting", total=len(jobs), status="")
        for job in jobs:
            bar.update(task, status=job.label)
            try:
                rows += _convert_one(converter, job, subtype)
            except BadInputError as exc:  # one bad file in a folder: report it, convert the rest
                rows += [_row(job, v, d, f"failed: {exc.message}") for v, d in job.outputs.items()]
            bar.advance(task)
    return rows


def _convert_one(converter: Any, job: Job, subtype: str | None) -> list[dict[str, Any]]:
    from rvclora.audio.io import encode_audio, load_audio, save_audio

    audio, sr = load_audio(job.source if job.source is not None else sys.stdin.buffer)
    rows = []
    for result in converter.convert_many(audio, sr):
        dest = job.outputs[result.voice]
        if dest is None:
            data = encode_audio(result.audio, result.sr, format=job.format.upper(), subtype=subtype)
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            try:
                save_audio(dest, result.audio, result.sr, subtype=subtype, format=job.format.upper())
            except (ValueError, TypeError, RuntimeError) as exc:  # soundfile: bad subtype for the format
                raise RvcloraError(f"cannot write {dest}: {exc}", "check --format/--subtype") from exc
        rows.append(_row(job, result.voice, dest, "converted", result))
    return rows


def _row(job: Job, voice: str, dest: Path | None, status: str, result: Any = None) -> dict[str, Any]:
    row: dict[str, Any] = {"input": job.label, "voice": voice, "output": str(dest) if dest else "-",
                           "status": status}
    if result is not None:
        row.update(duration_s=round(result.duration_s, 3), rtf=round(result.rtf, 3), sr=result.sr,
                   f0_method=result.f0_method, index=result.index,
                   timings={k: round(v, 3) for k, v in result.timings.items()})
    return row


def _summarise(rows: list[dict[str, Any]], as_json: bool, to_stderr: bool) -> None:
    from rvclora.console import emit_json, err, out, table

    if as_json:
        if to_stderr:
            import json

            sys.stderr.write(json.dumps(rows, indent=2) + "\n")
        else:
            emit_json(rows)
        return
    cols = ["input", "output", "duration", "RTF", "F0", "index", "status"]
    body = [[r["input"], r["output"], _fmt(r.get("duration_s"), "s"), _fmt(r.get("rtf"), ""),
             r.get("f0_method") or "-", r.get("index") or "-", r["status"]] for r in rows]
    (err if to_stderr else out).print(table(None, cols, body))


def _fmt(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.2f}{unit}"
