"""Where training numbers go: a JSON-lines file (one record per step and per epoch) and TensorBoard.

The JSONL file is the machine-readable record (tests compare runs with it); on resume it is cut back to
the resumed step so it never holds two versions of a step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rvclora.fileio import atomic_write


class JsonlLog:
    def __init__(self, path: Path, resume_step: int) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = [r for r in read_jsonl(path) if r.get("step", 0) <= resume_step] if resume_step > 0 else []
        with atomic_write(path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        self._fh = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL log; a torn last line (killed mid-write) is ignored."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


class Board:
    """TensorBoard writer (scalars, mel images, audio); imported lazily because tensorboard is slow to load."""

    def __init__(self, folder: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._w = SummaryWriter(log_dir=str(folder))

    def scalars(self, values: dict[str, float], step: int) -> None:
        for k, v in values.items():
            self._w.add_scalar(k, v, step)

    def mel(self, tag: str, mel: np.ndarray, step: int) -> None:
        """A log-mel ``[n_mels, T]`` as a grey image, low frequencies at the bottom."""
        lo, hi = float(mel.min()), float(mel.max())
        img = (mel - lo) / (hi - lo + 1e-9)
        self._w.add_image(tag, img[::-1].copy(), step, dataformats="HW")

    def audio(self, tag: str, wav: np.ndarray, sr: int, step: int) -> None:
        self._w.add_audio(tag, np.clip(wav, -1, 1)[None], step, sample_rate=sr)

    def close(self) -> None:
        self._w.flush()
        self._w.close()
