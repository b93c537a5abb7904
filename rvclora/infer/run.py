"""The ``rvclora infer`` run: check everything that needs no model, load once, convert every input piece by
piece (bounded memory, outputs written as they are made), and return one summary row per output.

Rendering (progress bar, table, ``--json``) is the command's job: this module reports progress through a
callback and prints nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rvclora.errors import BadInputError
from rvclora.infer.batch import Job, collect_inputs, plan_jobs
from rvclora.infer.options import ConvertOptions
from rvclora.infer.voices import voice_names

#: progress callback: (input label, seconds of it converted, its length in seconds, inputs done, inputs in all)
JobProgress = Callable[[str, float, float, int, int], None]


def run_infer(
    inputs: list[str],
    output: str,
    converter_args: dict[str, Any],
    suffix: str = "",
    fmt: str | None = None,
    subtype: str | None = None,
    overwrite: bool = False,
    recursive: bool = False,
    on_progress: JobProgress | None = None,
) -> list[dict[str, Any]]:
    """Convert ``inputs`` to ``output``; one row per output (status ``converted``, ``skipped (exists)`` or
    ``failed: …`` for a bad file among several). A single input's problem is raised as the command's error.

    Inputs are checked before any model loads: options, the ``--f0-file``, paths and output names, and the
    first input's audio (empty, silent, undecodable), so a mistake fails in well under a second.
    """
    check_options(converter_args)
    sources = collect_inputs(inputs, recursive)
    names = voice_names(
        list(converter_args.get("lora") or []), converter_args.get("model"), bool(converter_args.get("each"))
    )
    jobs = plan_jobs(sources, output, names, suffix, fmt)
    rows: list[dict[str, Any]] = []
    todo = []
    for job in jobs:
        if job.existing() and not overwrite:
            rows += [_row(job, voice, dest, "skipped (exists)") for voice, dest in job.outputs.items()]
        else:
            todo.append(job)
    if todo:
        rows += _convert_all(converter_args, todo, subtype, single=len(jobs) == 1, on_progress=on_progress)
    return rows


def check_options(converter_args: dict[str, Any]) -> ConvertOptions:
    """The conversion options and the F0 file, validated without loading anything."""
    options = ConvertOptions(**{k: v for k, v in converter_args.items() if k in ConvertOptions.__dataclass_fields__})
    if options.f0_file is not None:
        from rvclora.features.f0 import read_f0_file

        read_f0_file(options.f0_file)
    return options


def _convert_all(
    converter_args: dict[str, Any], jobs: list[Job], subtype: str | None, single: bool, on_progress: JobProgress | None
) -> list[dict[str, Any]]:
    """Prepare each input, then convert it; the models load once, on the first input that decodes."""
    from rvclora.infer.source import prepare_input

    converter = None
    rows: list[dict[str, Any]] = []
    for number, job in enumerate(jobs):
        with tempfile.TemporaryDirectory(prefix="rvclora-infer-") as work:
            try:
                prepared = prepare_input(job.source, Path(work), job.label)
                try:
                    if converter is None:
                        from rvclora.infer.converter import Converter

                        converter = Converter(**converter_args)
                    report = None if on_progress is None else _reporter(on_progress, job.label, number, len(jobs))
                    rows += _convert_one(converter, job, prepared, subtype, Path(work), report)
                finally:
                    prepared.close()
            except BadInputError as exc:
                if single:  # one input: its problem is the command's error
                    raise
                rows += [_row(job, v, d, f"failed: {exc.message}") for v, d in job.outputs.items()]
        if on_progress is not None:
            on_progress(job.label, 1.0, 1.0, number + 1, len(jobs))
    return rows


def _reporter(on_progress: JobProgress, label: str, number: int, count: int) -> Callable[[float, float], None]:
    return lambda done, total: on_progress(label, done, total, number, count)


def _convert_one(
    converter: Any,
    job: Job,
    prepared: Any,
    subtype: str | None,
    work: Path,
    report: Callable[[float, float], None] | None,
) -> list[dict[str, Any]]:
    from rvclora.infer.outputs import OutputTarget

    targets = {voice: OutputTarget(dest, job.format, subtype) for voice, dest in job.outputs.items()}
    results = converter.convert_prepared(prepared, targets, work, report)
    return [_row(job, r.voice, job.outputs[r.voice], "converted", r) for r in results]


def _row(job: Job, voice: str, dest: Path | None, status: str, result: Any = None) -> dict[str, Any]:
    row: dict[str, Any] = {"input": job.label, "voice": voice, "output": str(dest) if dest else "-", "status": status}
    if result is not None:
        row.update(
            duration_s=round(result.duration_s, 3),
            rtf=round(result.rtf, 3),
            sr=result.sr,
            f0_method=result.f0_method,
            unvoiced_f0=result.unvoiced_f0,
            index=result.index,
            index_path=result.index_path,
            warnings=list(result.warnings),
            timings={k: round(v, 3) for k, v in result.timings.items()},
        )
    return row
