"""The preprocess stage: source recordings -> normalised training clips (rvc-interop.md §4).

Per file: decode, mix down to mono, resample to the model rate, 48 Hz high-pass, cut at silences, cut into
3.7 s windows with 0.3 s overlap, drop clips peaking above 2.5, normalise, write float32 WAV at the model rate
(``clips/<sr>/``) and at 16 kHz (``clips/16k/``). Each source is one unit of work: its clips are written
atomically and its manifest entry is recorded only once all of them exist, so an interrupted run leaves no
half-written clip and the next run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rvclora.audio.filters import highpass, normalize_clip
from rvclora.audio.io import is_audio_file, load_audio, resample, save_audio
from rvclora.audio.slicer import SlicerParams, slice_silence, split_windows
from rvclora.errors import BadInputError, ConfigError
from rvclora.workspace.manifest import Manifest
from rvclora.workspace.overrides import Overrides
from rvclora.workspace.schema import default

STAGE = "preprocess"
CONTENT_SR = 16000
MAX_SPEAKERS = 109  # rows of the speaker embedding in every RVC base


@dataclass(frozen=True)
class PreprocessParams:
    """Every number of §4 that changes the clips (the ``preprocess:`` section minus ``workers``)."""

    slicer: SlicerParams = field(default_factory=SlicerParams)
    window_s: float = field(default_factory=lambda: default("preprocess.window_s"))
    overlap_s: float = field(default_factory=lambda: default("preprocess.overlap_s"))
    peak_limit: float = field(default_factory=lambda: default("preprocess.peak_limit"))
    norm_max: float = field(default_factory=lambda: default("preprocess.norm_max"))
    norm_alpha: float = field(default_factory=lambda: default("preprocess.norm_alpha"))
    highpass_hz: float = field(default_factory=lambda: default("preprocess.highpass_hz"))
    min_clip_s: float = field(default_factory=lambda: default("preprocess.min_clip_s"))

    def __post_init__(self) -> None:
        if not 0 <= self.overlap_s < self.window_s:
            raise ConfigError(
                "preprocess.overlap_s must be smaller than preprocess.window_s",
                f"got overlap {self.overlap_s} s, window {self.window_s} s",
            )

    @classmethod
    def from_settings(cls, section: Mapping[str, Any]) -> PreprocessParams:
        """Build from the ``preprocess:`` section (a dict or ``ws.settings.preprocess.as_dict()``)."""
        slicer_keys = SlicerParams.__dataclass_fields__
        own = {k: v for k, v in section.items() if k in cls.__dataclass_fields__ and k != "slicer"}
        return cls(SlicerParams(**{k: v for k, v in section.items() if k in slicer_keys}), **own)


@dataclass(frozen=True)
class Source:
    """One input file and the speaker it belongs to. ``key`` is its path relative to the input folder."""

    path: Path
    key: str
    speaker_id: int
    speaker: str


@dataclass
class Clips:
    """What :func:`cut_clips` made of one recording, with the reasons pieces were dropped."""

    clips: list[np.ndarray]
    slices: int
    dropped_loud: int = 0
    dropped_short: int = 0
    silent: bool = False


@dataclass
class SourceResult:
    """Outcome for one source; ``skipped`` holds the reason when it produced no clips."""

    key: str
    speaker_id: int
    duration_s: float = 0.0
    clips: int = 0
    kept_s: float = 0.0
    dropped_loud: int = 0
    dropped_short: int = 0
    outputs: list[str] = field(default_factory=list)
    skipped: str | None = None


@dataclass
class PreprocessSummary:
    """Totals over every current source (processed now or earlier), for the table and ``--json``."""

    files: int = 0
    processed: int = 0
    up_to_date: int = 0
    removed: int = 0
    input_s: float = 0.0
    clips: int = 0
    kept_s: float = 0.0
    skipped: list[dict[str, str]] = field(default_factory=list)
    speakers: dict[str, int] = field(default_factory=dict)
    clips_dir: str = ""
    clips_16k_dir: str = ""

    def to_json(self) -> dict[str, Any]:
        """What ``rvclora preprocess --json`` prints."""
        return asdict(self)


def find_sources(input_dir: Path, default_speaker_id: int = 0) -> list[Source]:
    """Audio files under ``input_dir``: files directly in it belong to ``default_speaker_id``; each subfolder
    is one speaker, numbered 0, 1, ... by sorted folder name (its files are searched recursively)."""
    if not input_dir.exists():
        raise BadInputError(
            f"input folder not found: {input_dir}", "put recordings in the workspace's raw/ folder or pass --input DIR"
        )
    if not input_dir.is_dir():
        raise BadInputError(f"input is not a folder: {input_dir}", "pass --input DIR with a folder of recordings")
    try:
        entries = sorted(p for p in input_dir.iterdir() if not p.name.startswith("."))
        sources = [Source(p, p.name, default_speaker_id, "") for p in entries if is_audio_file(p)]
        folders = [p for p in entries if p.is_dir()]
        if len(folders) > MAX_SPEAKERS:
            raise BadInputError(
                f"{len(folders)} speaker folders in {input_dir}; RVC models hold at most {MAX_SPEAKERS} speakers",
                "merge or remove speaker folders",
            )
        for speaker_id, folder in enumerate(folders):
            for p in sorted(folder.rglob("*")):
                rel = p.relative_to(input_dir)
                if is_audio_file(p) and not any(part.startswith(".") for part in rel.parts):
                    sources.append(Source(p, rel.as_posix(), speaker_id, folder.name))
    except PermissionError as exc:
        raise BadInputError(
            f"cannot read the input folder {exc.filename or input_dir}", "check its permissions"
        ) from exc
    if not sources:
        raise BadInputError(
            f"no audio files in {input_dir}",
            "add wav/flac/ogg/mp3 recordings (subfolders = speakers), or pass --input DIR",
        )
    return sources


def clip_name(source: Source) -> str:
    """``<speaker id>_<sanitised stem>_<6 hex of the source key>``: readable, and unique even for ``a.wav``
    next to ``a.flac``; clip ``n`` of the source is ``<clip_name>_<n:04d>.wav``."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(source.key).stem).strip("-")[:40] or "audio"
    digest = hashlib.sha1(source.key.encode()).hexdigest()[:6]
    return f"{source.speaker_id}_{stem}_{digest}"


def cut_clips(audio: np.ndarray, sr: int, params: PreprocessParams) -> Clips:
    """High-pass, slice at silences, window, peak-guard and normalise one mono recording at rate ``sr``."""
    filtered = highpass(audio, sr, params.highpass_hz)
    slices = slice_silence(filtered, sr, params.slicer)
    silent = not slices or float(np.abs(filtered).max()) < 10 ** (params.slicer.threshold_db / 20)
    result = Clips([], len(slices), silent=silent)
    if silent:
        return result
    min_len = params.min_clip_s * sr
    for s0, s1 in slices:
        for w0, w1 in split_windows(s1 - s0, sr, params.window_s, params.overlap_s):
            piece = filtered[s0 + w0 : s0 + w1]
            if len(piece) < min_len:
                result.dropped_short += 1
                continue
            clip = normalize_clip(piece, params.peak_limit, params.norm_max, params.norm_alpha)
            if clip is None:
                result.dropped_loud += 1
            else:
                result.clips.append(clip)
    return result


@dataclass(frozen=True)
class _Job:
    source: Source
    sr: int
    clips_dir: Path
    clips_16k_dir: Path
    params: PreprocessParams


def _process(job: _Job) -> SourceResult:
    """Worker: one source from file to clips on disk (runs in a child process when workers > 1)."""
    src = job.source
    result = SourceResult(src.key, src.speaker_id)
    try:
        audio, _ = load_audio(src.path, sr=job.sr, mono=True)
    except BadInputError as exc:
        result.skipped = exc.message.replace(str(src.path), src.path.name)
        return result
    result.duration_s = len(audio) / job.sr
    cut = cut_clips(audio, job.sr, job.params)
    result.dropped_loud, result.dropped_short = cut.dropped_loud, cut.dropped_short
    if not cut.clips:
        result.skipped = _why_empty(cut, job.params)
        return result
    base = clip_name(src)
    for n, clip in enumerate(cut.clips):
        name = f"{base}_{n:04d}.wav"
        save_audio(job.clips_dir / name, clip, job.sr, subtype="FLOAT")
        save_audio(job.clips_16k_dir / name, resample(clip, job.sr, CONTENT_SR), CONTENT_SR, subtype="FLOAT")
        result.outputs += [str(job.clips_dir / name), str(job.clips_16k_dir / name)]
        result.kept_s += len(clip) / job.sr
    result.clips = len(cut.clips)
    return result


def _why_empty(cut: Clips, params: PreprocessParams) -> str:
    if cut.silent:
        return f"silent (nothing above {params.slicer.threshold_db:g} dB)"
    if cut.dropped_loud and not cut.dropped_short:
        return f"every clip peaks above {params.peak_limit:g} (broken or clipped audio)"
    return f"too short (no clip of at least {params.min_clip_s:g} s)"


def stage_settings(sr: int, params: PreprocessParams, source: Source) -> dict[str, Any]:
    """What a source's clips depend on: a change to any of it redoes that source."""
    return {"sr": sr, "params": asdict(params), "speaker_id": source.speaker_id}


def preprocess(
    sources: list[Source],
    *,
    sr: int,
    clips_dir: Path,
    clips_16k_dir: Path,
    params: PreprocessParams,
    manifest: Manifest,
    workers: int = 1,
    force: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[SourceResult], None] | None = None,
) -> PreprocessSummary:
    """Bring ``clips_dir``/``clips_16k_dir`` up to date with ``sources``; return totals.

    Fresh sources are skipped, stale ones redone (old clips deleted first), removed ones have their clips
    deleted. ``on_start(n_to_do)`` and ``on_result(result)`` drive a progress display.
    """
    summary = PreprocessSummary(files=len(sources), clips_dir=str(clips_dir), clips_16k_dir=str(clips_16k_dir))
    with manifest.batched():  # one manifest write per batch of sources, each source hashed once
        current = {s.key for s in sources}
        for key in manifest.keys(STAGE):
            if key not in current:
                manifest.forget(STAGE, key, delete_outputs=True)
                summary.removed += 1
        todo = []
        for src in sources:
            settings = stage_settings(sr, params, src)
            if not force and manifest.is_fresh(STAGE, src.key, [src.path], settings):
                summary.up_to_date += 1
                continue
            if manifest.entry(STAGE, src.key) is not None:
                manifest.forget(STAGE, src.key, delete_outputs=True)
            todo.append(_Job(src, sr, clips_dir, clips_16k_dir, params))
        if on_start is not None:
            on_start(len(todo))
        for d in (clips_dir, clips_16k_dir):
            d.mkdir(parents=True, exist_ok=True)

        def done(job: _Job, result: SourceResult) -> None:
            info = {k: v for k, v in asdict(result).items() if k not in ("outputs", "key")}
            info["speaker"] = job.source.speaker
            manifest.record(
                STAGE, job.source.key, [job.source.path], stage_settings(sr, params, job.source), result.outputs, info
            )
            summary.processed += 1
            if on_result is not None:
                on_result(result)

        _run_jobs(todo, workers, done)
        _sweep_orphans(manifest, (clips_dir, clips_16k_dir))
    for src in sources:
        info = (manifest.entry(STAGE, src.key) or {}).get("info", {})
        summary.input_s += info.get("duration_s", 0.0)
        summary.clips += info.get("clips", 0)
        summary.kept_s += info.get("kept_s", 0.0)
        if info.get("skipped"):
            summary.skipped.append({"file": src.key, "reason": info["skipped"]})
        summary.speakers.setdefault(src.speaker or "(input folder)", src.speaker_id)
    return summary


def _run_jobs(todo: list[_Job], workers: int, done: Callable[[_Job, SourceResult], None]) -> None:
    """Run jobs in-process (workers <= 1) or in a process pool; ``done`` runs in this process, in order of
    completion, so only this process ever writes the manifest."""
    if workers <= 1 or len(todo) <= 1:
        for job in todo:
            done(job, _process(job))
        return
    pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)))
    try:
        futures: dict[Future[SourceResult], _Job] = {pool.submit(_process, job): job for job in todo}
        for fut in as_completed(futures):
            done(futures[fut], fut.result())
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


SILENCE_CLIP = "mute"  # clip name reserved for extract's silence item; preprocess names start with a digit


def _sweep_orphans(manifest: Manifest, folders: tuple[Path, ...]) -> None:
    """Delete clips no manifest entry owns (left by an interrupted run) and stray temporary files."""
    owned = {p.resolve() for p in manifest.outputs(STAGE)}
    for folder in folders:
        for p in folder.iterdir():
            if p.name == f"{SILENCE_CLIP}.wav":  # the silence item belongs to extract (see docs/workspace.md)
                continue
            if p.is_file() and (p.name.startswith(".") or p.suffix == ".wav") and p.resolve() not in owned:
                p.unlink(missing_ok=True)


@dataclass(frozen=True)
class ClipRecord:
    """One clip as later stages need it: both files, its speaker and the source it came from."""

    clip: Path
    clip_16k: Path
    speaker_id: int
    source: str


def list_clips(manifest: Manifest) -> list[ClipRecord]:
    """Every clip recorded by the preprocess stage, sorted by name (for extract and train)."""
    records = []
    for key in manifest.keys(STAGE):
        entry = manifest.entry(STAGE, key) or {}
        outputs = [manifest.abs(o) for o in entry.get("outputs", [])]
        speaker_id = int(entry.get("info", {}).get("speaker_id", 0))
        records += [ClipRecord(a, b, speaker_id, key) for a, b in zip(outputs[0::2], outputs[1::2], strict=False)]
    return sorted(records, key=lambda r: r.clip.name)


def default_workers(setting: int) -> int:
    """``0`` = one process per CPU core, at most 8."""
    return setting if setting > 0 else max(1, min(os.cpu_count() or 1, 8))


def preprocess_workspace(
    ws: Any,
    *,
    force: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[SourceResult], None] | None = None,
) -> PreprocessSummary:
    """Run the stage on a :class:`~rvclora.workspace.Workspace` (holding its lock)."""
    s = ws.settings
    params = PreprocessParams.from_settings(s.preprocess.as_dict())
    with ws.lock("preprocess"):
        sources = find_sources(ws.input_dir, s.speaker_id)
        return preprocess(
            sources,
            sr=ws.sample_rate,
            clips_dir=ws.clips_dir(),
            clips_16k_dir=ws.clips_16k_dir,
            params=params,
            manifest=ws.manifest,
            workers=default_workers(s.preprocess.workers),
            force=force,
            on_start=on_start,
            on_result=on_result,
        )


@dataclass(frozen=True)
class PreprocessRequest:
    """One preprocess run: the workspace (created if missing), the settings it changes, and ``force``."""

    workspace: Path
    overrides: Overrides = field(default_factory=Overrides)
    force: bool = False  # redo every file even if its clips are up to date


def run_preprocess(
    request: PreprocessRequest,
    *,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[SourceResult], None] | None = None,
) -> PreprocessSummary:
    """The stage's entry point (``rvclora preprocess``, ``rvclora.preprocess``): open the workspace, cut its
    recordings, and store the request's settings in rvclora.yaml only once that succeeded."""
    from rvclora.workspace import Workspace

    ws = Workspace.open(request.workspace, overrides=request.overrides)
    summary = preprocess_workspace(ws, force=request.force, on_start=on_start, on_result=on_result)
    ws.save_settings()  # only now: a failed run leaves rvclora.yaml (and a new folder) as they were
    return summary
