"""Which inputs a command converts and where each result goes: files, folders, stdin and stdout.

Pure path logic (no audio, no models), so every naming and refusal rule is decided before any model loads.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from rvclora.audio.io import is_audio_file, output_format, writable_extensions
from rvclora.errors import BadInputError, OutputError
from rvclora.fileio import require_file

STDIO = "-"


@dataclass
class Job:
    """One input (``source`` None = stdin) and its output per voice (``None`` = stdout)."""

    source: Path | None
    label: str
    outputs: dict[str, Path | None] = field(default_factory=dict)
    format: str = "wav"

    def existing(self) -> list[Path]:
        """Outputs already there (regular files only: ``/dev/null`` or a named pipe is a place to write to)."""
        return [p for p in self.outputs.values() if p is not None and p.is_file()]


def collect_inputs(inputs: list[str], recursive: bool = False) -> list[tuple[Path | None, Path]]:
    """``(path or None for stdin, name relative to its folder)`` for every input, folders expanded."""
    if not inputs:
        raise BadInputError("no input given", "give audio files, a folder, or - for stdin")
    if STDIO in inputs and len(inputs) > 1:
        raise BadInputError("stdin (-) cannot be combined with other inputs", "convert the stream on its own")
    if inputs == [STDIO]:
        return [(None, Path("stdin"))]
    found: list[tuple[Path | None, Path]] = []
    for raw in inputs:
        p = Path(raw).expanduser()
        if p.is_dir():
            files = sorted(f for f in (p.rglob("*") if recursive else p.iterdir()) if is_audio_file(f))
            if not files:
                more = "" if recursive else " (add --recursive to look in subfolders)"
                raise BadInputError(f"no audio files in folder {p}{more}", "supported: wav, flac, ogg, mp3, m4a ...")
            found += [(f, f.relative_to(p)) for f in files]
        else:
            found.append((require_file(p, "input audio"), Path(p.name)))
    return found


def _format_of(path: Path) -> str | None:
    ext = path.suffix.lower().lstrip(".")
    return ext if ext in writable_extensions() else None


def plan_jobs(
    inputs: list[tuple[Path | None, Path]],
    output: str,
    voices: list[str],
    suffix: str = "",
    fmt: str | None = None,
) -> list[Job]:
    """Decide every output path. One voice per output unless several voices were asked for (then the voice
    name is appended to each output name)."""
    if fmt is not None:
        output_format(fmt)  # refuses what this soundfile cannot write, listing what it can
        fmt = fmt.lower().lstrip(".")
    tag = (lambda v: f"_{v}") if len(voices) > 1 else (lambda v: "")
    if output == STDIO:
        if len(inputs) > 1 or len(voices) > 1:
            raise OutputError("stdout (-o -) takes exactly one input and one voice", "write to a folder instead")
        if sys.stdout.isatty():
            raise OutputError("refusing to write audio to a terminal", "redirect stdout (> out.wav) or pipe it on")
        return [Job(inputs[0][0], str(inputs[0][1]), {voices[0]: None}, fmt or "wav")]
    out = Path(output).expanduser()
    # An existing path that is not a folder (a file, /dev/full, a named pipe) is the output file itself.
    is_file_target = out.exists() and not out.is_dir()
    if is_file_target and len(inputs) > 1:
        raise OutputError(f"output {out} is a file, but {len(inputs)} inputs need a folder", "give a folder as -o")
    single_file = (
        len(inputs) == 1
        and (out.suffix != "" or is_file_target)
        and not out.is_dir()
        and not output.endswith(("/", "\\"))
    )
    jobs: list[Job] = []
    dests: dict[str, Path | None]
    if single_file:
        ext = fmt or out.suffix.lstrip(".").lower() or "wav"
        output_format(ext)
        src, rel = inputs[0]
        dests = {v: out.with_name(f"{out.stem}{tag(v)}{out.suffix}") for v in voices}
        jobs.append(Job(src, str(rel), dests, ext))
    else:
        for src, rel in inputs:
            ext = fmt or (_format_of(rel) or "wav")
            dests = {v: out / rel.parent / f"{rel.stem}{suffix}{tag(v)}.{ext}" for v in voices}
            jobs.append(Job(src, str(rel), dests, ext))
    for job in jobs:
        for dest in job.outputs.values():
            if job.source is not None and dest is not None and dest.resolve() == job.source.resolve():
                raise OutputError(f"output {dest} would overwrite its input", "choose another output or --suffix")
    return jobs
