"""Converting an input of any length piece by piece: memory is bounded by the piece size, not the input's.

The in-memory pipeline (:mod:`rvclora.infer.pipeline`) holds the whole input, its pitch, every piece's
features and the whole output at once. Here the input is a prepared :class:`~rvclora.infer.source.PreparedInput`
on disk and each piece of the same plan (same quiet cut points, same context and crossfade) is analysed and
synthesized on its own, then handed to one :class:`~rvclora.infer.outputs.OutputSink` per voice.

The one deliberate difference is the pitch: RVC estimates F0 over the whole input, here over each piece plus
:data:`F0_CONTEXT` seconds on both sides. Local methods (pm, dio, harvest, crepe, fcpe) then give the same
frames except where their own post-processing spans more than that context (harvest's contour fixing across
long voiced stretches); RMVPE's recurrent layer sees the window instead of the whole file. An input that is a
single piece gets exactly the whole-input pitch. See docs/inference.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rvclora.infer.chunking import WINDOW, ChunkConfig, Piece, find_cuts_in, plan_pieces
from rvclora.infer.options import ConvertOptions
from rvclora.infer.outputs import OutputSink, OutputTarget
from rvclora.infer.pipeline import Analysis, ContentEncoder, F0Estimator, piece_outputs, timed
from rvclora.infer.source import PreparedInput, source_rms_frames

if TYPE_CHECKING:
    from rvclora.infer.voices import Voice

#: seconds of audio on each side of a piece that the pitch estimator sees beyond it
F0_CONTEXT = 1.0

#: progress callback: (seconds of input done, seconds in all)
Progress = Callable[[float, float], None]


def convert_pieces(
    prepared: PreparedInput,
    voices: list[Voice],
    encoder: ContentEncoder,
    f0_estimator: F0Estimator | None,
    cfg: ChunkConfig,
    options: ConvertOptions,
    targets: Mapping[str, OutputTarget],
    workdir: Path,
    device: str = "cpu",
    on_progress: Progress | None = None,
) -> tuple[dict[str, OutputSink], dict[str, float]]:
    """Convert ``prepared`` to every voice piece by piece; returns each voice's finished (unwritten) sink."""
    signal = prepared.signal
    n, t_pad = signal.n, cfg.t_pad
    timings: dict[str, float] = {}
    pieces = plan_pieces(n, find_cuts_in(signal.read_reflect, n, cfg), cfg)
    env_in = source_rms_frames(signal)
    sinks = {
        v.name: OutputSink(v.sr, n, env_in, cfg, options, targets[v.name], workdir / f"out{i}.f32")
        for i, v in enumerate(voices)
    }
    total = n + 2 * t_pad  # samples of the reflect-padded input the plan refers to
    context = int(round(F0_CONTEXT * 100)) * WINDOW
    for k, piece in enumerate(pieces):
        lo = max(0, piece.start - context) if f0_estimator is not None else piece.start
        hi = min(total, piece.stop + context) if f0_estimator is not None else piece.stop
        window = signal.read_reflect(lo - t_pad, hi - t_pad)
        local = Piece(
            piece.start - lo, piece.stop - lo, piece.frame0 - lo // WINDOW, piece.frame1 - lo // WINDOW, piece.last
        )
        analysis = _analyze_window(window, local, lo // WINDOW, encoder, f0_estimator, voices, cfg, device, timings)
        for voice in voices:
            for audio in piece_outputs(analysis, voice, options, device, timings, first_piece=k):
                sinks[voice.name].push(audio, piece.last)
        if on_progress is not None:
            on_progress(min(piece.frame1 * WINDOW - 2 * t_pad, n) / 16000, n / 16000)
    return sinks, timings


def _analyze_window(
    window: np.ndarray,
    piece: Piece,
    offset: int,
    encoder: ContentEncoder,
    f0_estimator: F0Estimator | None,
    voices: list[Voice],
    cfg: ChunkConfig,
    device: str,
    timings: dict[str, float],
) -> Analysis:
    """One piece's analysis: pitch over the whole window, content features over the piece itself."""
    f0 = f0_filled = None
    if f0_estimator is not None:
        from rvclora.features.f0 import fill_unvoiced

        with timed(timings, "f0", device):
            track = np.asarray(f0_estimator.estimate(window), dtype=np.float32)
            frames = window.shape[0] // WINDOW
            f0, f0_filled = track[:frames], fill_unvoiced(track)[:frames]
    features: dict[str, list[np.ndarray]] = {}
    with timed(timings, "hubert", device):
        for version in sorted({v.version for v in voices}):
            feats = encoder.extract(window[piece.start : piece.stop], version)
            features[version] = [np.asarray(feats, dtype=np.float32)]
    return Analysis(window, cfg, [piece], f0, features, f0_filled=f0_filled, frame_offset=offset)
