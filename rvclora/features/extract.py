"""The extract stage: training clips -> content features, pitch and the retrieval index (rvc-interop.md §5, §7).

Outputs for every clip ``<name>`` that preprocess recorded (``clips/16k/<name>.wav`` is the input):

- ``features/<name>.npy``: float32 ``[T, 256|768]`` from the configured HuBERT/ContentVec (v1 = final_proj of
  layer 9, v2 = layer 12), ``T = floor((N − 400)/320) + 1`` at 50 Hz.
- ``f0/<name>.npy``: float32 Hz per 10 ms, ``N//160 + 1`` frames (pitch workspaces only); unvoiced frames are
  0 Hz, or with ``unvoiced_f0: fill`` interpolated from their voiced neighbours like RVC's current main
  (:func:`~rvclora.features.f0.fill_unvoiced`). The manifest entry records which (``info.unvoiced_f0``), so
  training can store it in the adapter.
- ``index/added_IVF{n}_Flat_nprobe_1_{workspace name}_{version}.index``: RVC's faiss index over every clip's
  features in sorted clip order (when ``extract.build_index`` is on).

**The silence item.** Like RVC's ``logs/mute`` set, extract writes a clip named ``mute`` (:data:`MUTE`):
``clips/<sr>/mute.wav`` and ``clips/16k/mute.wav`` (3 s of zeros), ``features/mute.npy`` (the configured
encoder on those zeros, so it matches the version and the encoder) and ``f0/mute.npy`` (zeros). It lives
beside the real clips so the train stage finds it like any other clip; it is left out of the index and of
the statistics. Preprocess clip names always start with a speaker number, so ``mute`` never collides.

**Incremental and interruptible.** Each output is written atomically and recorded in the manifest only once
it exists, under its own stage (:data:`FEATURES`, :data:`F0`, :data:`INDEX`, :data:`MUTE_STAGE`) with only the
settings it depends on: features on (version, encoder file identity), pitch on (method, RMVPE file identity,
unvoiced convention), the index on every clip's features. So a changed F0 method or ``unvoiced_f0`` redoes only
pitch, a changed version or encoder redoes features and index, and a re-run after Ctrl-C continues where it
stopped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rvclora.audio.preprocess import SILENCE_CLIP
from rvclora.choices import Precision
from rvclora.devices import resolve_device, resolve_precision
from rvclora.errors import BadInputError, ConfigError
from rvclora.fileio import atomic_write
from rvclora.workspace.manifest import Manifest, fingerprint
from rvclora.workspace.overrides import Overrides
from rvclora.workspace.schema import UNVOICED_F0, default

FEATURES = "extract.features"
F0 = "extract.f0"
INDEX = "extract.index"
MUTE_STAGE = "extract.mute"
MUTE = SILENCE_CLIP
MUTE_SECONDS = 3
CONTENT_SR = 16000


@dataclass(frozen=True)
class ClipPaths:
    """One clip: its name and its two audio files (``clips/<sr>/`` and ``clips/16k/``)."""

    name: str
    clip: Path
    clip_16k: Path


@dataclass(frozen=True)
class Layout:
    """Where the stage reads and writes (the workspace folders)."""

    clips_dir: Path
    clips_16k_dir: Path
    features_dir: Path
    f0_dir: Path
    index_dir: Path


@dataclass(frozen=True)
class ExtractOptions:
    """Everything that decides what the stage computes. ``f0_method`` None = a no-pitch workspace."""

    hubert: Path
    version: str
    sr: int
    f0_method: str | None
    rmvpe: Path | None = None
    device: str = "cpu"
    precision: str = "fp32"
    batch_size: int = 8
    build_index: bool = True
    index_name: str = "rvclora"
    unvoiced_f0: str = default("unvoiced_f0")  # "zero" or "fill" (rvc-interop.md §11)


@dataclass
class ExtractSummary:
    """Totals over every current clip (extracted now or earlier), for the table and ``--json``."""

    clips: int = 0
    features_done: int = 0
    f0_done: int = 0
    up_to_date: int = 0
    removed: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    frames: int = 0
    feature_dim: int | None = None
    f0_frames: int = 0
    voiced_fraction: float | None = None
    f0_min_hz: float | None = None
    f0_max_hz: float | None = None
    version: str = ""
    f0_method: str | None = None
    unvoiced_f0: str | None = None  # the convention of the pitch files (None: no-pitch workspace)
    device: str = ""
    precision: str = ""
    hubert: str = ""
    mute: str | None = None
    index: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """What ``rvclora extract --json`` prints."""
        return asdict(self)


def file_identity(path: Path | None) -> Any:
    """What identifies an asset for freshness: its content fingerprint (a folder: each file's), not its path,
    so moving the file does not redo work but replacing it does."""
    if path is None:
        return None
    if path.is_dir():
        return {p.name: fingerprint(p) for p in sorted(path.iterdir()) if p.is_file()}
    return fingerprint(path)


def feature_settings(options: ExtractOptions, hubert_id: Any) -> dict[str, Any]:
    """What content features depend on (and nothing else, so a pitch change keeps them)."""
    return {"version": options.version, "hubert": hubert_id}


def f0_settings(options: ExtractOptions, rmvpe_id: Any) -> dict[str, Any]:
    """What pitch depends on: the method, the RMVPE file only when the method uses it, and the unvoiced
    convention. ``zero`` adds no key, so pitch extracted before the setting existed (always zeros) stays fresh."""
    settings = {"method": options.f0_method, "rmvpe": rmvpe_id if options.f0_method == "rmvpe" else None}
    if options.unvoiced_f0 != "zero":
        settings["unvoiced_f0"] = options.unvoiced_f0
    return settings


def pitch_convention(manifest: Manifest) -> str | None:
    """The ``unvoiced_f0`` convention of the workspace's pitch files, as extract recorded it (entries from
    before the setting existed are ``zero``); None when there are none. Training stores it in the adapter."""
    found = {(manifest.entry(F0, key) or {}).get("info", {}).get("unvoiced_f0", "zero") for key in manifest.keys(F0)}
    if len(found) > 1:
        raise BadInputError(
            "the pitch files in f0/ mix the unvoiced_f0 conventions zero and fill (an interrupted extract?)",
            "run rvclora extract on the workspace to finish it",
        )
    return found.pop() if found else None


def save_npy(path: Path, array: np.ndarray) -> None:
    """``np.save`` through :func:`atomic_write`: the file appears complete or not at all."""
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


@dataclass
class _Todo:
    clip: ClipPaths
    features: bool
    f0: bool


@dataclass
class _Models:
    """The models, loaded (and so validated) before any output is written."""

    encoder: Any = None
    estimator: Any = None


def _load_models(options: ExtractOptions, need_encoder: bool, need_f0: bool) -> _Models:
    models = _Models()
    if need_encoder:
        from rvclora.features.hubert import load_content_encoder

        dtype = None if options.precision == "fp32" else options.precision
        models.encoder = load_content_encoder(options.hubert, device=options.device, dtype=dtype)
        models.encoder.extract(np.zeros(400, dtype=np.float32), options.version)  # wrong version/kind: fail now
    if need_f0:
        from rvclora.features.f0 import load_f0_estimator

        extra: dict[str, Any] = {}
        if options.f0_method == "rmvpe":
            on_gpu = options.device.startswith("cuda")
            extra = {
                "dtype": Precision(options.precision).torch_name if on_gpu else "float32",
                "batch_size": options.batch_size,
            }
        models.estimator = load_f0_estimator(
            str(options.f0_method), rmvpe=options.rmvpe, device=options.device, **extra
        )
    return models


def _read_16k(clip: ClipPaths) -> tuple[np.ndarray | None, str | None]:
    """The 16 kHz waveform, or a reason to skip the clip."""
    from rvclora.audio.io import load_audio

    if not clip.clip_16k.is_file():
        return None, "16 kHz clip is missing (run rvclora preprocess again)"
    try:
        wav, sr = load_audio(clip.clip_16k, mono=True)
    except BadInputError as exc:
        return None, exc.message
    if sr != CONTENT_SR:
        return None, f"16 kHz clip is {sr} Hz (run rvclora preprocess again)"
    if not np.isfinite(wav).all():
        return None, "audio contains NaN or infinite samples"
    if len(wav) < 400:
        return None, "shorter than 25 ms"
    return wav, None


def _pitch_info(f0: np.ndarray) -> dict[str, Any]:
    voiced = f0[f0 > 0]
    return {
        "frames": int(f0.shape[0]),
        "voiced": int(voiced.size),
        "f0_min": float(voiced.min()) if voiced.size else None,
        "f0_max": float(voiced.max()) if voiced.size else None,
    }


def _forget_removed(manifest: Manifest, stage: str, current: set[str]) -> set[str]:
    """Delete the outputs of clips preprocess no longer has; return their names."""
    gone = {k for k in manifest.keys(stage) if k not in current}
    for key in gone:
        manifest.forget(stage, key, delete_outputs=True)
    return gone


def _sweep_temporaries(layout: Layout) -> None:
    """Remove temporary files a killed run left behind (atomic_write's ``.<name>.*.tmp*``, the index's
    ``.pending.index``); these folders belong to this stage, so every hidden file in them is ours."""
    for folder in (layout.features_dir, layout.f0_dir, layout.index_dir):
        if folder.is_dir():
            for p in folder.iterdir():
                if p.is_file() and p.name.startswith("."):
                    p.unlink(missing_ok=True)


def extract_clips(
    clips: Sequence[ClipPaths],
    layout: Layout,
    options: ExtractOptions,
    manifest: Manifest,
    *,
    force: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_advance: Callable[[int, str], None] | None = None,
) -> ExtractSummary:
    """Bring features, pitch, the silence item and the index up to date for ``clips``; return totals.

    Models are loaded (and bad files refused) before anything is written. ``on_start(n_clips_to_do)`` and
    ``on_advance(n_done, status)`` drive a progress display.
    """
    if not clips:
        raise BadInputError(f"no clips in {layout.clips_16k_dir}", "run rvclora preprocess first")
    if options.precision not in (Precision.fp32, Precision.fp16, Precision.bf16):
        raise ConfigError(f"unknown precision {options.precision!r}", "use fp32, fp16 or bf16")
    if options.unvoiced_f0 not in UNVOICED_F0:
        raise ConfigError(f"unknown unvoiced_f0 convention {options.unvoiced_f0!r}", "use zero or fill")
    summary = ExtractSummary(
        clips=len(clips),
        version=options.version,
        f0_method=options.f0_method,
        unvoiced_f0=options.unvoiced_f0 if options.f0_method else None,
        device=options.device,
        precision=options.precision,
        hubert=str(options.hubert),
        mute=MUTE,
    )
    hubert_id, rmvpe_id = file_identity(options.hubert), file_identity(options.rmvpe)
    feat_set, pitch_set = feature_settings(options, hubert_id), f0_settings(options, rmvpe_id)
    with manifest.batched():  # one manifest write per batch of clips, each clip hashed once
        todo: list[_Todo] = []
        for clip in clips:
            feats = force or not manifest.is_fresh(FEATURES, clip.name, [clip.clip_16k], feat_set)
            pitch = options.f0_method is not None and (
                force or not manifest.is_fresh(F0, clip.name, [clip.clip_16k], pitch_set)
            )
            if feats or pitch:
                todo.append(_Todo(clip, feats, pitch))
            else:
                summary.up_to_date += 1
        mute_set = {"sr": options.sr, **feat_set, "f0": options.f0_method is not None}
        mute_todo = force or not manifest.is_fresh(MUTE_STAGE, MUTE, [], mute_set)

        models = _load_models(
            options, need_encoder=mute_todo or any(t.features for t in todo), need_f0=any(t.f0 for t in todo)
        )
        names = {c.name for c in clips}
        summary.removed = len(_forget_removed(manifest, FEATURES, names) | _forget_removed(manifest, F0, names))
        _sweep_temporaries(layout)
        if on_start is not None:
            on_start(len(todo))
        for d in (layout.features_dir, layout.f0_dir) if options.f0_method else (layout.features_dir,):
            d.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(todo), options.batch_size):
            batch = todo[start : start + options.batch_size]
            _extract_batch(batch, layout, options, manifest, models, feat_set, pitch_set, summary)
            if on_advance is not None:
                on_advance(len(batch), batch[-1].clip.name)
        if mute_todo:
            _write_mute(layout, options, manifest, models.encoder, mute_set)

        skipped = {s["clip"] for s in summary.skipped}
        _collect_stats(summary, [c.name for c in clips if c.name not in skipped], manifest, options)
        if options.build_index:
            usable = sorted(c.name for c in clips if c.name not in skipped and manifest.entry(FEATURES, c.name))
            summary.index = _update_index(usable, layout, options, manifest, feat_set, force)
    return summary


def _extract_batch(
    batch: list[_Todo],
    layout: Layout,
    options: ExtractOptions,
    manifest: Manifest,
    models: _Models,
    feat_set: dict[str, Any],
    pitch_set: dict[str, Any],
    summary: ExtractSummary,
) -> None:
    """Read a batch of clips once; compute what each one needs; write and record each output."""
    wavs: dict[str, np.ndarray] = {}
    for t in batch:
        wav, why = _read_16k(t.clip)
        if wav is None:
            _skip(t.clip.name, str(why), layout, manifest, summary)
        else:
            wavs[t.clip.name] = wav
    need = [t for t in batch if t.features and t.clip.name in wavs]
    if need:
        outs = models.encoder.extract_batch(
            [wavs[t.clip.name] for t in need], options.version, batch_size=options.batch_size
        )
        for t, feats in zip(need, outs, strict=True):
            if not np.isfinite(feats).all():
                _skip(t.clip.name, "content features contain NaN", layout, manifest, summary)
                wavs.pop(t.clip.name)
                continue
            out = layout.features_dir / f"{t.clip.name}.npy"
            save_npy(out, np.ascontiguousarray(feats, dtype=np.float32))
            manifest.record(
                FEATURES,
                t.clip.name,
                [t.clip.clip_16k],
                feat_set,
                [out],
                {"frames": int(feats.shape[0]), "dim": int(feats.shape[1])},
            )
            summary.features_done += 1
    need = [t for t in batch if t.f0 and t.clip.name in wavs]
    if need:
        from rvclora.features.f0 import fill_unvoiced

        for t, f0 in zip(need, models.estimator.estimate_many([wavs[t.clip.name] for t in need]), strict=True):
            if not np.isfinite(f0).all():
                _skip(t.clip.name, "F0 contains NaN", layout, manifest, summary)
                continue
            info = {**_pitch_info(f0), "unvoiced_f0": options.unvoiced_f0}  # voicing counted before any fill
            if options.unvoiced_f0 == "fill":
                f0 = fill_unvoiced(f0)
            out = layout.f0_dir / f"{t.clip.name}.npy"
            save_npy(out, np.asarray(f0, dtype=np.float32))
            manifest.record(F0, t.clip.name, [t.clip.clip_16k], pitch_set, [out], info)
            summary.f0_done += 1


def _skip(name: str, reason: str, layout: Layout, manifest: Manifest, summary: ExtractSummary) -> None:
    """Report a clip and delete any older outputs of it, so training never pairs stale features or pitch."""
    summary.skipped.append({"clip": name, "reason": reason})
    for stage, folder in ((FEATURES, layout.features_dir), (F0, layout.f0_dir)):
        if manifest.entry(stage, name) is not None:
            manifest.forget(stage, name)
        (folder / f"{name}.npy").unlink(missing_ok=True)


def _write_mute(
    layout: Layout, options: ExtractOptions, manifest: Manifest, encoder: Any, settings: dict[str, Any]
) -> None:
    """The silence item (see the module docstring): 3 s of zeros at both rates, its features and zero F0
    (zero under either unvoiced convention: with no voiced frame, there is nothing to fill from)."""
    from rvclora.audio.io import save_audio
    from rvclora.features.f0 import n_frames

    wav_16k = np.zeros(MUTE_SECONDS * CONTENT_SR, dtype=np.float32)
    feats = encoder.extract(wav_16k, options.version)
    outputs = [
        layout.clips_dir / f"{MUTE}.wav",
        layout.clips_16k_dir / f"{MUTE}.wav",
        layout.features_dir / f"{MUTE}.npy",
    ]
    save_audio(outputs[0], np.zeros(MUTE_SECONDS * options.sr, dtype=np.float32), options.sr, subtype="FLOAT")
    save_audio(outputs[1], wav_16k, CONTENT_SR, subtype="FLOAT")
    save_npy(outputs[2], np.ascontiguousarray(feats, dtype=np.float32))
    if options.f0_method is not None:
        outputs.append(layout.f0_dir / f"{MUTE}.npy")
        save_npy(outputs[3], np.zeros(n_frames(len(wav_16k)), dtype=np.float32))
    manifest.record(MUTE_STAGE, MUTE, [], settings, outputs, {"frames": int(feats.shape[0])})


def _collect_stats(summary: ExtractSummary, names: list[str], manifest: Manifest, options: ExtractOptions) -> None:
    """Frames, feature width and pitch statistics of the clips, from what the manifest recorded."""
    voiced, lows, highs = 0, [], []
    for name in names:
        info = (manifest.entry(FEATURES, name) or {}).get("info", {})
        summary.frames += int(info.get("frames", 0))
        summary.feature_dim = info.get("dim", summary.feature_dim)
        if options.f0_method is None:
            continue
        pitch = (manifest.entry(F0, name) or {}).get("info", {})
        summary.f0_frames += int(pitch.get("frames", 0))
        voiced += int(pitch.get("voiced", 0))
        if pitch.get("f0_min") is not None:
            lows.append(pitch["f0_min"])
            highs.append(pitch["f0_max"])
    if summary.f0_frames:
        summary.voiced_fraction = voiced / summary.f0_frames
    if lows:
        summary.f0_min_hz, summary.f0_max_hz = min(lows), max(highs)


def _update_index(
    names: list[str], layout: Layout, options: ExtractOptions, manifest: Manifest, feat_set: dict[str, Any], force: bool
) -> dict[str, Any] | None:
    """Rebuild the index when any clip's features changed; otherwise report the one on disk."""
    from rvclora.features.index import build_index, rvc_index_name

    if not names:
        return None
    settings = {**feat_set, "features": {n: (manifest.entry(FEATURES, n) or {}).get("inputs") for n in names}}
    if not force and manifest.is_fresh(INDEX, INDEX, [], settings):
        entry = manifest.entry(INDEX, INDEX) or {}
        return {**entry.get("info", {}), "rebuilt": False}
    if manifest.entry(INDEX, INDEX) is not None:
        manifest.forget(INDEX, INDEX, delete_outputs=True)
    feats = np.concatenate([np.load(layout.features_dir / f"{n}.npy") for n in names])
    pending = layout.index_dir / ".pending.index"
    info = build_index(feats, pending)
    final = layout.index_dir / rvc_index_name(options.index_name, info["n_ivf"], options.version)
    os.replace(pending, final)
    info = {
        "path": str(final),
        "ntotal": info["ntotal"],
        "dim": info["dim"],
        "n_ivf": info["n_ivf"],
        "rows_in": info["rows_in"],
    }
    manifest.record(INDEX, INDEX, [], settings, [final], info)
    return {**info, "rebuilt": True}


def extract(
    workspace: Any,
    *,
    precision: str = "auto",
    force: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_advance: Callable[[int, str], None] | None = None,
) -> ExtractSummary:
    """Run the stage on a :class:`~rvclora.workspace.Workspace` (or a workspace path), holding its lock.

    Settings come from the workspace (``version``, ``f0``, ``f0_method``, ``unvoiced_f0``, ``device``,
    ``assets.hubert``, ``assets.rmvpe``, ``extract.*``); open it with overrides to change them. The F0 method
    ``auto`` is rmvpe when an RMVPE file is configured, else harvest; the summary says which was used.
    """
    from rvclora.audio.preprocess import list_clips
    from rvclora.workspace import Workspace

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace, create=False)
    s = ws.settings
    if s.assets.hubert is None:
        raise ConfigError(
            "no content encoder configured (assets.hubert)",
            "pass --hubert path/to/hubert_base.pt or set assets.hubert in rvclora.yaml",
        )
    device = str(resolve_device(s.device))
    options = ExtractOptions(
        hubert=s.assets.hubert,
        version=s.version,
        sr=ws.sample_rate,
        f0_method=ws.f0_method if s.f0 else None,
        rmvpe=s.assets.rmvpe,
        device=device,
        precision=resolve_precision(precision, device).value,
        batch_size=s.extract.batch_size,
        build_index=s.extract.build_index,
        index_name=ws.root.name,
        unvoiced_f0=s.unvoiced_f0,
    )
    layout = Layout(ws.clips_dir(), ws.clips_16k_dir, ws.features_dir, ws.f0_dir, ws.index_dir)
    with ws.lock("extract"):
        records = list_clips(ws.manifest)
        if not records:
            raise BadInputError(f"workspace {ws.root} has no clips yet", "run rvclora preprocess first")
        clips = [ClipPaths(r.clip.stem, r.clip, r.clip_16k) for r in records]
        return extract_clips(clips, layout, options, ws.manifest, force=force, on_start=on_start, on_advance=on_advance)


@dataclass(frozen=True)
class ExtractRequest:
    """One extract run: an existing workspace, the settings it changes, the model precision and ``force``."""

    workspace: Path
    overrides: Overrides = field(default_factory=Overrides)
    precision: str = "auto"  # auto = fp16 on CUDA (as RVC), fp32 elsewhere
    force: bool = False  # redo every clip even if its outputs are up to date


def run_extract(
    request: ExtractRequest,
    *,
    on_start: Callable[[int], None] | None = None,
    on_advance: Callable[[int, str], None] | None = None,
) -> ExtractSummary:
    """The stage's entry point (``rvclora extract``, ``rvclora.extract``): open the workspace, extract, and
    store the request's settings in rvclora.yaml only once that succeeded."""
    from rvclora.workspace import Workspace

    ws = Workspace.open(request.workspace, create=False, overrides=request.overrides)
    summary = extract(ws, precision=request.precision, force=request.force, on_start=on_start, on_advance=on_advance)
    ws.save_settings()  # only now: a failed run leaves rvclora.yaml as it was
    return summary
