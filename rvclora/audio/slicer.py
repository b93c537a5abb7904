"""Cutting recordings at silences, then into fixed windows (rvc-interop.md §4 steps 4 and 5).

The silence rules are those of RVC's slicer (from openvpi's audio-slicer), written here from its
description: RMS per hop against a threshold; a quiet run splits the audio when it is long enough and the
current slice is long enough; at most ``max_sil_kept`` of the silence stays on each side, cut where the RMS is
lowest. Results are sample ranges, so callers (and tests) see exactly where the cuts fell.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from rvclora.errors import ConfigError
from rvclora.workspace.schema import default


@dataclass(frozen=True)
class SlicerParams:
    """Slicer settings in milliseconds / dB, as in the ``preprocess:`` section (defaults: the schema's)."""

    threshold_db: float = field(default_factory=lambda: default("preprocess.threshold_db"))
    min_length_ms: int = field(default_factory=lambda: default("preprocess.min_length_ms"))
    min_interval_ms: int = field(default_factory=lambda: default("preprocess.min_interval_ms"))
    hop_ms: int = field(default_factory=lambda: default("preprocess.hop_ms"))
    max_sil_kept_ms: int = field(default_factory=lambda: default("preprocess.max_sil_kept_ms"))

    def __post_init__(self) -> None:
        if not self.min_length_ms >= self.min_interval_ms >= self.hop_ms:
            raise ConfigError(
                "preprocess settings need min_length_ms >= min_interval_ms >= hop_ms",
                f"got {self.min_length_ms}, {self.min_interval_ms}, {self.hop_ms}",
            )
        if self.max_sil_kept_ms < self.hop_ms:
            raise ConfigError(
                "preprocess settings need max_sil_kept_ms >= hop_ms", f"got {self.max_sil_kept_ms} < {self.hop_ms}"
            )


def frame_rms(audio: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """RMS of ``frame``-sample windows centred on every hop (zero padded): ``1 + len // hop`` values.

    Computed from a running sum of squares, so an hour of audio needs no ``frames x frame`` matrix.
    """
    pad = frame // 2
    squares = np.pad(audio.astype(np.float64) ** 2, (pad, pad))
    n = 1 + (len(squares) - frame) // hop
    csum = np.concatenate(([0.0], np.cumsum(squares)))
    starts = np.arange(n) * hop
    energy = np.maximum(csum[starts + frame] - csum[starts], 0.0)
    return np.sqrt(energy / frame)


def _quiet_runs(quiet: np.ndarray) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each run of True values, end exclusive."""
    edges = np.diff(np.concatenate(([0], quiet.astype(np.int8), [0])))
    yield from zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)


def _quietest(rms: np.ndarray, lo: int, hi: int) -> int:
    """Index of the lowest RMS in ``rms[lo..hi]`` (both ends included, clipped to the array)."""
    return lo + int(np.argmin(rms[lo : hi + 1]))


def slice_silence(audio: np.ndarray, sr: int, params: SlicerParams | None = None) -> list[tuple[int, int]]:
    """Sample ranges ``[start, end)`` of the sounding parts of mono ``audio``; silent audio gives ``[]``.

    Audio shorter than ``min_length`` is returned whole.
    """
    params = params or SlicerParams()
    hop = round(sr * params.hop_ms / 1000)
    interval_samples = round(sr * params.min_interval_ms / 1000)
    frame = min(interval_samples, 4 * hop)
    min_length = round(sr * params.min_length_ms / 1000 / hop)
    min_interval = round(interval_samples / hop)
    keep = round(sr * params.max_sil_kept_ms / 1000 / hop)
    threshold = 10 ** (params.threshold_db / 20)
    if (len(audio) + hop - 1) // hop <= min_length:
        return [(0, len(audio))]

    rms = frame_rms(audio, frame, hop)
    n = len(rms)
    removed: list[tuple[int, int]] = []  # hop ranges to drop
    slice_start = 0
    for s, e in _quiet_runs(rms < threshold):
        length = e - s
        if e == n:  # silence lasting to the end: keep a little of it, drop the rest
            if length >= min_interval:
                removed.append((_quietest(rms, s, min(n, s + keep)), n + 1))
            break
        leading = s == 0 and e > keep
        splits = length >= min_interval and e - slice_start >= min_length
        if not (leading or splits):
            continue
        if length <= keep:
            pos = _quietest(rms, s, e)
            cut = (0, pos) if s == 0 else (pos, pos)
        else:
            left, right = _quietest(rms, s, s + keep), _quietest(rms, e - keep, e)
            if s == 0:
                cut = (0, right)
            elif length <= 2 * keep:  # the kept margins overlap: also consider the quietest shared point
                mid = _quietest(rms, e - keep, s + keep)
                cut = (min(left, mid), max(right, mid))
            else:
                cut = (left, right)
        removed.append(cut)
        slice_start = cut[1]

    if not removed:
        return [(0, len(audio))]
    bounds = [0] + [edge for cut in removed for edge in cut] + [n]
    ranges = []
    for a, b in zip(bounds[0::2], bounds[1::2], strict=True):
        start, end = a * hop, min(len(audio), b * hop)
        if end > start:
            ranges.append((start, end))
    return ranges


def split_windows(n_samples: int, sr: int, window_s: float = 3.7, overlap_s: float = 0.3) -> list[tuple[int, int]]:
    """RVC's windows over one slice: starts every ``window - overlap`` seconds; while more than
    ``window + overlap`` seconds remain a full window is cut, and the rest (at most that long) is the last piece."""
    step, window = (window_s - overlap_s) * sr, round(window_s * sr)
    tail = (window_s + overlap_s) * sr
    pieces = []
    i = 0
    while True:
        start = round(i * step)
        if n_samples - start > tail:
            pieces.append((start, start + window))
            i += 1
        else:
            pieces.append((start, n_samples))
            return pieces
