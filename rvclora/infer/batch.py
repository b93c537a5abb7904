"""Which inputs a command converts and where each result goes: files, folders, stdin and stdout.

Pure path logic (no audio, no models), so every naming and refusal rule is decided before any model loads.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from rvclora.audio.io import is_audio_file
from rvclora.errors import BadInputError, ConfigError, OutputError
from rvclora.fileio import require_file

OUTPUT_FORMATS = ("wav", "flac", "ogg")
STDIO = "-"


@dataclass
class Job:
    """One input (``source`` None = stdin) and its output per voice (``None`` = stdout)."""

    source: Path | None
    label: str
    outputs: dict[str, Path | None] = field(default_factory=dict)
    format: str = "wav"

    def existing(self) -> list[Path]:
        return [p for p in self.outputs.values() if p is not None and p.exists()]


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
    return ext if ext in OUTPUT_FORMATS else None


def plan_jobs(
    inputs: list[tuple[Path | None, Path]],
    output: str,
    voices: list[str],
    suffix: str = "",
    fmt: str | None = None,
) -> list[Job]:
    """Decide every output path. One voice per output unless several voices were asked for (then the voice
    name is appended to each output name)."""
    if fmt is not None and fmt.lower() not in OUTPUT_FORMATS:
        raise ConfigError(f"unsupported output format {fmt!r}", f"use one of: {', '.join(OUTPUT_FORMATS)}")
    fmt = fmt.lower() if fmt else None
    tag = (lambda v: f"_{v}") if len(voices) > 1 else (lambda v: "")
    if output == STDIO:
        if len(inputs) > 1 or len(voices) > 1:
            raise OutputError("stdout (-o -) takes exactly one input and one voice", "write to a folder instead")
        if sys.stdout.isatty():
            raise OutputError("refusing to write audio to a terminal", "redirect stdout (> out.wav) or pipe it on")
        return [Job(inputs[0][0], str(inputs[0][1]), {voices[0]: None}, fmt or "wav")]
    out = Path(output).expanduser()
    single_file = len(inputs) == 1 and out.suffix != "" and not out.is_dir() and not output.endswith(("/", "\\"))
    jobs: list[Job] = []
    if single_file:
        ext = fmt or _format_of(out)
        if ext is None:
            raise ConfigError(f"unsupported output format {out.suffix!r} for {out}",
                              f"use .{', .'.join(OUTPUT_FORMATS)} or --format")
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
