"""The conversion math of rvc-interop.md §8, split into voice-independent analysis and per-voice synthesis.

Analysis (filtering, chunk planning, HuBERT, F0) depends only on the input, so converting one input to many
voices runs it once; synthesis (retrieval, protect, the generator, loudness) runs once per voice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from rvclora.infer import dsp
from rvclora.infer.chunking import WINDOW, ChunkConfig, Piece, find_cuts, plan_pieces, reflect_pad
from rvclora.infer.options import ConvertOptions

if TYPE_CHECKING:
    from rvclora.infer.voices import Voice


class ContentEncoder(Protocol):
    def extract(self, wav_16k: np.ndarray, version: str) -> np.ndarray: ...


class F0Estimator(Protocol):
    def estimate(self, wav_16k: np.ndarray) -> np.ndarray: ...


@dataclass
class Analysis:
    """Everything about one input that every voice shares."""

    source: np.ndarray  # high-passed 16 kHz input, unpadded (the RMS-mix reference)
    cfg: ChunkConfig
    pieces: list[Piece]
    f0: np.ndarray | None  # Hz per 10 ms frame of the padded input, before any pitch shift; 0 = unvoiced
    features: dict[str, list[np.ndarray]]  # version -> per piece [T50, dim] float32
    timings: dict[str, float] = field(default_factory=dict)
    # ``f0`` with unvoiced frames filled (unvoiced_f0 "fill"); filled before the crop to the padded input's
    # frames, as upstream fills the estimator's whole output before cutting it to p_len.
    f0_filled: np.ndarray | None = None
    frame_offset: int = 0  # frame of the whole padded input where this analysis starts (a window of a long one)

    @property
    def duration(self) -> float:
        return self.source.shape[0] / dsp.SR_16K


@contextmanager
def timed(timings: dict[str, float], key: str, device: str = "cpu") -> Iterator[None]:
    """Add the wall time of the block to ``timings[key]`` (waiting for the GPU so the split is honest)."""
    start = time.perf_counter()
    yield
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
    timings[key] = timings.get(key, 0.0) + time.perf_counter() - start


def analyze(
    audio_16k: np.ndarray,
    encoder: ContentEncoder,
    f0_estimator: F0Estimator | None,
    versions: set[str],
    cfg: ChunkConfig,
    smooth_f0: bool = False,
    device: str = "cpu",
) -> Analysis:
    """Steps 1, 4–7 and the HuBERT part of 9: the voice-independent half of a conversion."""
    timings: dict[str, float] = {}
    audio = dsp.highpass_48hz(dsp.peak_guard(audio_16k))
    pieces = plan_pieces(audio.shape[0], find_cuts(audio, cfg), cfg)
    padded = reflect_pad(audio, cfg)
    f0 = f0_filled = None
    if f0_estimator is not None:
        from rvclora.features.f0 import fill_unvoiced

        with timed(timings, "f0", device):
            total = padded.shape[0] // WINDOW
            f0 = np.asarray(f0_estimator.estimate(padded), dtype=np.float32)
            if smooth_f0:  # upstream: harvest only, filter_radius > 2
                from scipy.signal import medfilt

                f0 = medfilt(f0, 3).astype(np.float32)
            f0, f0_filled = f0[:total], fill_unvoiced(f0)[:total]
    features: dict[str, list[np.ndarray]] = {}
    with timed(timings, "hubert", device):
        for version in sorted(versions):
            features[version] = [
                np.asarray(encoder.extract(padded[p.start : p.stop], version), dtype=np.float32) for p in pieces
            ]
    return Analysis(audio, cfg, pieces, f0, features, timings, f0_filled)


def unvoiced_convention(voice: Voice, options: ConvertOptions) -> str:
    """The unvoiced-F0 convention for this voice and call: the option when given, else the voice's own."""
    return options.unvoiced_f0 or voice.unvoiced_f0


def voice_pitch(analysis: Analysis, options: ConvertOptions, unvoiced_f0: str) -> tuple[np.ndarray, np.ndarray]:
    """Step 7 per voice: unvoiced convention, shift, optional CSV override (used as written), coarse pitch.
    Returns (coarse int64, Hz float32). Upstream main fills before the shift, so "fill" does too."""
    from rvclora.features.f0 import apply_f0_file, coarse_f0, shift_f0

    track = analysis.f0_filled if unvoiced_f0 == "fill" else analysis.f0
    assert track is not None
    f0 = np.asarray(shift_f0(track.copy(), options.pitch), dtype=np.float32)
    if options.f0_file is not None:
        start = analysis.cfg.pad_frames - analysis.frame_offset
        f0 = np.asarray(apply_f0_file(f0, options.f0_file, start), dtype=np.float32)
    return np.asarray(coarse_f0(f0), dtype=np.int64), f0


def _fit(frames: np.ndarray, n: int) -> np.ndarray:
    """Cut or edge-extend 100 Hz features to exactly ``n`` frames (HuBERT yields 1–2 fewer than pitch)."""
    if frames.shape[0] >= n:
        return frames[:n]
    return np.concatenate([frames, np.repeat(frames[-1:], n - frames.shape[0], axis=0)], axis=0)


def piece_inputs(
    feats: np.ndarray,
    piece: Piece,
    voice: Voice,
    options: ConvertOptions,
    pitch: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Step 9 up to the model: retrieval, ×2 upsampling, protect. Returns (feats [n, dim], coarse, Hz)."""
    raw = feats
    if voice.retrievers and options.index_rate > 0:
        feats = options.index_rate * voice.retrieve(feats) + (1 - options.index_rate) * feats
    n = piece.frame1 - piece.frame0
    feats = _fit(np.repeat(feats, 2, axis=0), n)
    if pitch is None:
        return feats.astype(np.float32), None, None
    coarse = pitch[0][piece.frame0 : piece.frame1]
    hz = pitch[1][piece.frame0 : piece.frame1]
    if options.protect < 0.5:
        mask = np.where(hz < 1, options.protect, 1.0).astype(np.float32)[:, None]
        feats = feats * mask + _fit(np.repeat(raw, 2, axis=0), n) * (1 - mask)
    return feats.astype(np.float32), coarse, hz


def synthesize(
    analysis: Analysis, voice: Voice, options: ConvertOptions, device: str = "cpu"
) -> tuple[np.ndarray, int, dict[str, float]]:
    """Steps 8–12 for one voice: per-piece generation, trimming, seam crossfades, loudness, resampling."""
    timings: dict[str, float] = {}
    outputs = list(piece_outputs(analysis, voice, options, device, timings))
    audio = stitch(outputs, crossfade_samples(analysis.cfg, voice.sr))
    audio = dsp.mix_rms(analysis.source, audio, voice.sr, options.rms_mix_rate)
    audio, sr = dsp.resample_output(audio, voice.sr, options.resample_sr)
    return dsp.limit_peak(audio), sr, timings


def piece_outputs(
    analysis: Analysis,
    voice: Voice,
    options: ConvertOptions,
    device: str = "cpu",
    timings: dict[str, float] | None = None,
    first_piece: int = 0,
) -> Iterator[np.ndarray]:
    """Steps 8–9 per piece: the model's audio with the context trimmed, keeping the crossfade overlap on every
    piece but the last. ``first_piece`` numbers the pieces of a window of a long input (it picks their noise)."""
    timings = {} if timings is None else timings
    pitch = voice_pitch(analysis, options, unvoiced_convention(voice, options)) if voice.f0 else None
    hop = voice.sr // 100
    pad = analysis.cfg.pad_frames * hop
    fade = crossfade_samples(analysis.cfg, voice.sr)
    for k, (piece, feats) in enumerate(zip(analysis.pieces, analysis.features[voice.version], strict=True)):
        with timed(timings, "retrieval"):
            inputs = piece_inputs(feats, piece, voice, options, pitch)
        with timed(timings, "synthesis", device), seeded(options.seed, first_piece + k, device):
            wav = voice.generate(*inputs, speaker_id=options.speaker_id)
        yield wav[pad : wav.shape[0] - pad] if piece.last else wav[pad : wav.shape[0] - pad + fade]


def crossfade_samples(cfg: ChunkConfig, sr: int) -> int:
    return int(round(cfg.crossfade * sr))


@contextmanager
def seeded(seed: int | None, piece: int, device: str = "cpu") -> Iterator[None]:
    """Draw the synthesizer's noise (prior sample, NSF excitation) for piece ``piece`` from ``seed``.

    Each piece gets its own seed, so the result does not depend on the order voices and pieces run in, and
    the caller's random state is restored afterwards. ``None`` keeps torch's running random state (fresh noise
    on every run, as upstream RVC).
    """
    if seed is None:
        yield
        return
    import torch

    devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(np.random.SeedSequence([seed, piece]).generate_state(1)[0]))
        yield


class Stitcher:
    """Joins piece outputs as they arrive (see :func:`stitch`), holding back only the overlap still to fade."""

    def __init__(self, fade: int) -> None:
        self.fade = fade
        self._tail: np.ndarray | None = None

    def push(self, piece: np.ndarray, last: bool) -> np.ndarray:
        """The samples that are final once ``piece`` is known (``last``: it has no overlap with a next one)."""
        if self._tail is not None:
            n = min(self.fade, piece.shape[0])  # a final sliver shorter than the fade ends inside the overlap
            ramp = (np.arange(n, dtype=np.float32) + 0.5) / max(n, 1)
            piece = np.concatenate([self._tail[:n] * (1 - ramp) + piece[:n] * ramp, piece[n:]])
            self._tail = None
        if not last:
            cut = piece.shape[0] - self.fade
            piece, self._tail = piece[:cut], piece[cut:]
        return piece.astype(np.float32, copy=False)


def stitch(pieces: list[np.ndarray], fade: int) -> np.ndarray:
    """Join piece outputs; every piece but the last carries ``fade`` extra samples that overlap the next.

    The overlap is cross-faded linearly, so a seam has no step even where the two pieces' contexts differ.
    """
    joiner = Stitcher(fade)
    return np.concatenate([joiner.push(p, i == len(pieces) - 1) for i, p in enumerate(pieces)])


def describe(analysis: Analysis) -> dict[str, Any]:
    return {"duration_s": round(analysis.duration, 3), "pieces": len(analysis.pieces)}
