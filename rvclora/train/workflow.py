"""The ``rvclora train`` stage on a workspace: bring clips and features up to date, then train.

Kept apart from the loop so the loop takes plain inputs (a :class:`TrainJob`) and the workspace rules
(settings, layout, speaker ids from the preprocess manifest, the lock) live in one place.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rvclora.errors import BadInputError, ConfigError
from rvclora.train.data import find_clips
from rvclora.train.interrupt import TrainingInterrupted
from rvclora.train.loop import TrainResult, run_training
from rvclora.train.options import TrainJob, TrainOptions
from rvclora.train.progress import TrainProgress
from rvclora.workspace.overrides import Overrides


@dataclass(frozen=True)
class TrainRequest:
    """One training run: the workspace (created if missing), the settings it changes, and ``restart``."""

    workspace: Path
    overrides: Overrides = field(default_factory=Overrides)
    restart: bool = False  # start over instead of resuming


@dataclass
class TrainSummary:
    """What a finished (or already finished) run reports; :meth:`to_json` is ``rvclora train --json``."""

    output: str | None  # the adapter (or RVC model with --full); None when nothing was trained
    epochs: int
    steps: int
    stopped: str  # "finished", "max_steps", "early_stopping", "already_finished"
    resumed_from: str | None
    discriminator: str
    last_mel: float | None
    last_val_mel: float | None
    warnings: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # per-epoch records (not in the JSON)

    @classmethod
    def from_result(cls, result: TrainResult) -> TrainSummary:
        return cls(**result.summary(), history=result.history)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "history"}


def run_train(
    request: TrainRequest,
    *,
    progress: TrainProgress | None = None,
) -> TrainSummary | None:
    """The stage's entry point (``rvclora train``, ``rvclora.train``); returns None on non-zero DDP ranks.

    The request's settings are written to rvclora.yaml only once training has finished, or was interrupted
    with its progress saved; a run that fails stores nothing.
    """
    result = train_workspace(request.workspace, request.overrides, request.restart, progress)
    return None if result is None else TrainSummary.from_result(result)


def train_workspace(
    root: Path,
    overrides: Overrides,
    restart: bool = False,
    progress: TrainProgress | None = None,
) -> TrainResult | None:
    """Train the workspace at ``root`` and return the loop's result (with the trained net, for tests)."""
    from rvclora.features.extract import pitch_convention
    from rvclora.lora.config import LoRAConfig
    from rvclora.workspace import Workspace

    main = int(os.environ.get("RANK", "0")) == 0
    ws = Workspace.open(
        root,
        overrides=overrides if main else overrides.without_inputs(),
        required={
            "assets.base": ("no base model configured", "give --base pretrained_v2/f0G40k.pth (stored in rvclora.yaml)")
        },
    )
    s = ws.settings
    if main:
        bring_up_to_date(ws)
    job = TrainJob(
        name=ws.root.name,
        base=Path(s.assets.base),
        base_d=None if s.assets.base_d is None else Path(s.assets.base_d),
        clips=find_clips(ws.clips_dir(), ws.features_dir, ws.f0_dir if s.f0 else None, speaker_ids(ws)),
        adapters_dir=ws.adapters_dir,
        checkpoints_dir=ws.checkpoints_dir,
        logs_dir=ws.logs_dir,
        lora=LoRAConfig.from_dict(s.lora.as_dict()),
        options=TrainOptions.from_settings(s.train.as_dict(), s.device),
        version=s.version,
        sr=ws.sample_rate,
        f0=bool(s.f0),
        restart=restart,
        unvoiced_f0=pitch_convention(ws.manifest) if s.f0 else None,
        info={
            "base": str(s.assets.base),
            "workspace": str(ws.root),
            "index_dir": str(ws.index_dir),
            "f0_method": ws.f0_method,
        },
    )
    if not main:
        run_training(job)
        return None
    with ws.lock("train"):
        try:
            result = run_training(job, progress)
        except TrainingInterrupted as exc:
            if exc.saved:
                ws.save_settings()
            raise
    ws.save_settings()
    return result


def speaker_ids(ws: Any) -> dict[str, int]:
    """Clip name → speaker id, as recorded by preprocess (clips it does not know are speaker 0)."""
    out: dict[str, int] = {}
    m = ws.manifest
    for key in m.keys("preprocess"):
        entry = m.entry("preprocess", key) or {}
        sid = int(entry.get("info", {}).get("speaker_id", 0))
        for o in entry.get("outputs", []):
            out[Path(o).stem] = sid
    return out


def bring_up_to_date(ws: Any) -> None:
    """Run preprocess (incremental: fresh sources are skipped) and, where a content encoder is configured,
    extract; what cannot work is refused before either runs."""
    from rvclora.audio.preprocess import preprocess_workspace

    recordings = ws.input_dir.is_dir()
    if not recordings and not any(ws.clips_dir().glob("*.wav")):
        raise BadInputError(
            f"no recordings in {ws.input_dir} and no clips in {ws.clips_dir()}",
            "put audio files in the workspace's raw/ folder or give --input",
        )
    hubert = ws.settings.assets.hubert
    if hubert is None and not any(ws.features_dir.glob("*.npy")):
        raise ConfigError(
            "no content encoder configured (assets.hubert): the clips' content features cannot be extracted",
            "give --hubert path/to/hubert_base.pt (stored in rvclora.yaml)",
        )
    if recordings:
        preprocess_workspace(ws)
    if hubert is not None:
        from rvclora.features.extract import extract

        extract(ws)  # incremental: up-to-date clips are skipped
