"""The ``rvclora infer`` run: check everything that needs no model, load once, convert every input piece by
piece (bounded memory, outputs written as they are made), and return one summary row per output.

Rendering (progress bar, table, ``--json``) is the command's job: this module reports progress through a
callback and prints nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rvclora.errors import BadInputError
from rvclora.infer.batch import Job, collect_inputs, plan_jobs
from rvclora.infer.options import DEFAULTS, ConverterConfig, ConvertOptions
from rvclora.infer.voices import voice_names

#: progress callback: (input label, seconds of it converted, its length in seconds, inputs done, inputs in all)
JobProgress = Callable[[str, float, float, int, int], None]


@dataclass(frozen=True)
class InferRequest:
    """One ``rvclora infer`` run: inputs, where outputs go, what loads and how each input is converted."""

    inputs: Sequence[str]  # audio files, folders, or "-" for stdin
    output: str  # a file, a folder, or "-" for stdout
    converter: ConverterConfig
    options: ConvertOptions = DEFAULTS
    suffix: str = ""  # added to output names in folder mode
    fmt: str | None = None  # default: from the output name
    subtype: str | None = None
    overwrite: bool = False
    recursive: bool = False


@dataclass
class Conversion:
    """How one output was made (present on a converted row)."""

    duration_s: float
    rtf: float
    sr: int
    f0_method: str | None
    unvoiced_f0: str | None
    index: str | None
    index_path: str | None
    warnings: list[str]
    timings: dict[str, float]


@dataclass
class OutputRow:
    """One output: status ``converted``, ``skipped (exists)`` or ``failed: …``."""

    input: str
    voice: str
    output: str
    status: str
    conversion: Conversion | None = None

    def to_json(self) -> dict[str, Any]:
        row = {"input": self.input, "voice": self.voice, "output": self.output, "status": self.status}
        return row if self.conversion is None else {**row, **asdict(self.conversion)}


@dataclass
class InferSummary:
    """One row per output; :meth:`to_json` is ``rvclora infer --json``."""

    rows: list[OutputRow] = field(default_factory=list)

    def to_json(self) -> list[dict[str, Any]]:
        return [row.to_json() for row in self.rows]


def run_infer(request: InferRequest, *, on_progress: JobProgress | None = None) -> InferSummary:
    """The stage's entry point (``rvclora infer``, ``rvclora.convert``): convert ``request.inputs``; a bad file
    among several is a ``failed: …`` row, a single input's problem is raised as the command's error.

    Inputs are checked before any model loads: options, the ``--f0-file``, paths and output names, and the
    first input's audio (empty, silent, undecodable), so a mistake fails in well under a second.
    """
    check_f0_file(request.options)
    config = request.converter
    sources = collect_inputs(list(request.inputs), request.recursive)
    names = voice_names([Path(p) for p in config.lora], config.model, config.each)
    jobs = plan_jobs(sources, request.output, names, request.suffix, request.fmt)
    rows: list[OutputRow] = []
    todo = []
    for job in jobs:
        if job.existing() and not request.overwrite:
            rows += [_row(job, voice, dest, "skipped (exists)") for voice, dest in job.outputs.items()]
        else:
            todo.append(job)
    if todo:
        rows += _convert_all(request, todo, single=len(jobs) == 1, on_progress=on_progress)
    return InferSummary(rows)


def check_f0_file(options: ConvertOptions) -> None:
    """The ``--f0-file``, read without loading anything."""
    if options.f0_file is not None:
        from rvclora.features.f0 import read_f0_file

        read_f0_file(options.f0_file)


def _convert_all(
    request: InferRequest, jobs: list[Job], single: bool, on_progress: JobProgress | None
) -> list[OutputRow]:
    """Prepare each input, then convert it; the models load once, on the first input that decodes."""
    from rvclora.infer.source import prepare_input

    converter = None
    rows: list[OutputRow] = []
    for number, job in enumerate(jobs):
        with tempfile.TemporaryDirectory(prefix="rvclora-infer-") as work:
            try:
                prepared = prepare_input(job.source, Path(work), job.label)
                try:
                    if converter is None:
                        from rvclora.infer.converter import Converter

                        converter = Converter.from_config(request.converter, request.options)
                    report = None if on_progress is None else _reporter(on_progress, job.label, number, len(jobs))
                    rows += _convert_one(converter, job, prepared, request.subtype, Path(work), report)
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
) -> list[OutputRow]:
    from rvclora.infer.outputs import OutputTarget

    targets = {voice: OutputTarget(dest, job.format, subtype) for voice, dest in job.outputs.items()}
    results = converter.convert_prepared(prepared, targets, work, report)
    return [_row(job, r.voice, job.outputs[r.voice], "converted", r) for r in results]


def _row(job: Job, voice: str, dest: Path | None, status: str, result: Any = None) -> OutputRow:
    row = OutputRow(job.label, voice, str(dest) if dest else "-", status)
    if result is not None:
        row.conversion = Conversion(
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
