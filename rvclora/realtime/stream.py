"""Block-by-block conversion: ``Stream(converter, sr=48000).process(samples) -> converted samples``.

Each step converts a window ``[context | block | lookahead]`` with the offline pipeline's own pieces
(resampling, high-pass, HuBERT, pitch, retrieval, protect, the generator, RMS mix) and keeps only the block,
shifted left by the crossfade: its first ``crossfade`` seconds fade in over what the previous step left as
its tail. Three things keep consecutive windows telling one story, so seams stay clean and the result stays
close to converting the whole input at once:

* HuBERT's 20 ms grid: every window starts on an even pitch frame, as the offline input does;
* pitch is fixed once per frame, the first time the frame is emitted, and reused while it stays in the window
  (a frame's pitch therefore sees only ``lookahead`` of future: the causal part of a stream); the estimator
  runs on the block, its lookahead and ``pitch_context`` before them, not on the whole window;
* the NSF sine starts each window at the phase the previous window reached there.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rvclora.errors import BadInputError, ConfigError
from rvclora.infer import dsp
from rvclora.infer.chunking import Piece
from rvclora.infer.options import ConvertOptions
from rvclora.realtime.settings import DEFAULTS, REALTIME_F0, StreamSettings, check_rate

if TYPE_CHECKING:
    from rvclora.infer.converter import Converter
    from rvclora.infer.voices import Voice

_SR = dsp.SR_16K
_HOP = 160  # 16 kHz samples per pitch frame


@dataclass
class StreamStats:
    """What a stream has done so far: the figures ``rvclora stream``/``live`` report."""

    block_s: float
    latency_s: float
    blocks: int = 0
    late: int = 0  # blocks whose compute took longer than the block lasts
    compute_s: list[float] = field(default_factory=list)

    @property
    def last_compute_s(self) -> float:
        return self.compute_s[-1] if self.compute_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        recent = self.compute_s[-50:] or [0.0]
        return {
            "block_s": self.block_s,
            "latency_s": round(self.latency_s, 4),
            "blocks": self.blocks,
            "late": self.late,
            "compute_s": round(self.last_compute_s, 4),
            "compute_mean_s": round(float(np.mean(recent)), 4),
            "total_latency_s": round(self.latency_s + float(np.mean(recent)), 4),
        }


def _halo(voice: Voice) -> int:
    """Frames left of the kept output that the decoder needs (its receptive radius)."""
    from rvclora.infer.fast import receptive_radius

    return receptive_radius(voice.model.dec)


def realtime_f0_method(method: str) -> str:
    """The pitch method a stream uses for ``method`` (harvest → dio; crepe is refused)."""
    if method == "harvest":
        return "dio"
    if method not in REALTIME_F0:
        raise ConfigError(f"F0 method {method!r} is too slow for real time", f"use one of: {', '.join(REALTIME_F0)}")
    return method


class Stream:
    """Converts a live signal block by block with one voice of ``converter`` (switchable while running).

    ``sr`` is the input rate, ``out_sr`` the output rate (default: ``sr``); ``settings`` the block, context,
    lookahead and crossfade; other keywords are :class:`ConvertOptions` (pitch, index_rate, protect,
    rms_mix_rate, speaker_id) on top of the converter's. Output is the input timeline delayed by
    :attr:`delay` seconds (lookahead + crossfade), emitted a block at a time.
    """

    def __init__(
        self,
        converter: Converter,
        sr: int,
        out_sr: int | None = None,
        settings: StreamSettings = DEFAULTS,
        **options: Any,
    ) -> None:
        if len(converter.voices) != 1:
            raise ConfigError(
                f"a stream converts to one voice, this converter has {len(converter.voices)}",
                "blend adapters (no --each) or give one",
            )
        if not converter.voices[0].fast:
            raise ConfigError("streaming needs the fast path", "create the Converter with fast=True")
        self.sr = check_rate(int(sr))
        self.out_sr = check_rate(int(out_sr or sr), "--out-sr")
        self.settings = settings
        self.options = converter.options.with_(**options)
        self._converter = converter
        self._voice = converter.voices[0]
        self._lock = threading.Lock()
        self._pending: tuple[Voice | None, ConvertOptions | None] = (None, None)
        self.f0_method = realtime_f0_method(converter.f0_method) if self._voice.f0 else None
        self._f0 = None
        if self.f0_method is not None:
            self._f0 = converter.load_f0_estimator(self.f0_method)
        s = settings
        self._k, self._c, self._l, self._x = (s.frames(n) for n in ("block", "context", "lookahead", "crossfade"))
        self._pc = min(s.frames("pitch_context"), self._c + 1)  # +1: the window's room for the even start
        self._window = self._c + self._k + self._l + 1  # +1: room to start on an even frame
        self._fi, self._fo = self.sr // 100, self.out_sr // 100
        self._start()

    def _start(self) -> None:
        """The state of a stream that has received nothing yet."""
        self._history = np.zeros(self._window * self._fi, np.float32)
        self._fifo = np.zeros(0, np.float32)
        self._end = 0  # frames consumed (the window's end, in frames since the stream began)
        self._pitch = np.zeros(self._window, np.float32)  # fixed Hz per frame of the window, before shifting
        self._tail = np.zeros(self._x * self._fo, np.float32)
        self._dry = np.zeros(0, np.float32)  # the model's output before RMS mix, per frame of the window
        self._phase = 0.0  # NSF phase (cycles) at the start of the previous window
        self._prev: tuple[int, np.ndarray] | None = None  # (start frame, shifted Hz) of the previous window
        self._in_samples = 0
        self._out_samples = 0
        self.stats = StreamStats(self.settings.block, self.settings.latency)

    def warm_up(self) -> None:
        """Convert one block of silence and forget it: the first block pays one-time costs (lazy imports,
        oneDNN's kernels and packed weights for the window's shapes), seconds that would otherwise make a live
        stream's first block late. Afterwards the stream is as new."""
        self.process(np.zeros(self._k * self._fi, np.float32))
        self._start()

    # --- settings while running -------------------------------------------------------------------------
    @property
    def voice(self) -> Voice:
        return self._voice

    @property
    def delay(self) -> float:
        """Seconds by which the output timeline trails the input's (lookahead + crossfade)."""
        return (self._l + self._x) / 100

    @property
    def requested_options(self) -> ConvertOptions:
        """The options the next block will use (the latest :meth:`set_options`)."""
        with self._lock:
            return self._pending[1] or self.options

    def set_voice(self, voice: Voice) -> None:
        """Switch voice at the next block (the block's crossfade blends old into new)."""
        self._converter_fits(voice)
        with self._lock:
            self._pending = (voice, self._pending[1])

    def load_voice(self, lora: Any, weights: Any = None) -> Voice:
        """Load adapter(s) (a blend with ``weights``) on the converter's assets and switch to them at the next
        block; raises the user error and keeps the current voice if they do not load."""
        voice = self._converter.load_voice(lora, weights)
        self.set_voice(voice)
        return voice

    def set_options(self, **changes: Any) -> ConvertOptions:
        """Change pitch, index_rate, protect, rms_mix_rate or speaker_id from the next block on."""
        with self._lock:
            options = (self._pending[1] or self.options).with_(**changes)
            self._pending = (self._pending[0], options)
        return options

    def _converter_fits(self, voice: Voice) -> None:
        if voice.f0 != self._voice.f0:
            raise ConfigError(f"cannot switch between pitch and no-pitch voices while streaming ({voice.name})")
        if not voice.fast:
            raise ConfigError("streaming needs the fast path", "load the voice with a fast Converter")

    # --- processing --------------------------------------------------------------------------------------
    def process(self, samples: np.ndarray) -> np.ndarray:
        """Feed any number of input samples (mono float); returns the converted blocks completed by them."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not np.isfinite(x).all():
            raise BadInputError("the stream received NaN or infinite samples", "check the audio source")
        self._in_samples += x.shape[0]
        self._fifo = np.concatenate([self._fifo, x])
        need = self._k * self._fi
        out = []
        while self._fifo.shape[0] >= need:
            block, self._fifo = self._fifo[:need], self._fifo[need:]
            out.append(self._step(block))
        result = np.concatenate(out) if out else np.zeros(0, np.float32)
        self._out_samples += result.shape[0]
        return result

    def flush(self) -> np.ndarray:
        """End of input: push silence through until every input sample has come out (after :attr:`delay`)."""
        want = round(self._in_samples * self.out_sr / self.sr) + (self._l + self._x) * self._fo
        parts = []
        while self._out_samples < want:
            pad = self._k * self._fi - self._fifo.shape[0]
            done = self._out_samples
            parts.append(self.process(np.zeros(pad, np.float32)))
            self._in_samples -= pad  # silence added here is no input
            if self._out_samples == done:  # cannot happen: every full block emits
                break
        out = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        extra = self._out_samples - want
        if extra > 0:
            out = out[: out.shape[0] - extra]
            self._out_samples = want
        return out

    def _step(self, block: np.ndarray) -> np.ndarray:
        start_time = time.perf_counter()
        with self._lock:
            voice, options = self._pending
            self._pending = (None, None)
        if voice is not None:
            self._voice = voice
        if options is not None:
            self.options = options
        k, c, ahead, x = self._k, self._c, self._l, self._x
        self._history = np.concatenate([self._history[block.shape[0] :], block])
        self._pitch = np.concatenate([self._pitch[k:], np.zeros(k, np.float32)])
        self._end += k
        start = self._end - (c + k + ahead)
        start -= start % 2  # HuBERT's 20 ms grid, as in the offline input
        n = self._end - start
        wav = self._history[(self._window - n) * self._fi :]
        out = self._convert(wav, n)
        a = n - ahead - k - x  # the emitted region's first frame, within the window
        fo = self._fo
        head = out[a * fo : (a + x) * fo]
        ramp = np.sin(0.5 * np.pi * (np.arange(x * fo, dtype=np.float32) + 0.5) / max(x * fo, 1)) ** 2
        emitted = np.concatenate([self._tail * (1 - ramp) + head * ramp, out[(a + x) * fo : (a + k) * fo]])
        self._tail = out[(a + k) * fo : (a + k + x) * fo].copy()
        self.stats.blocks += 1
        elapsed = time.perf_counter() - start_time
        self.stats.compute_s.append(elapsed)
        del self.stats.compute_s[:-200]
        self.stats.late += elapsed > self.settings.block
        return np.clip(emitted, -1.0, 1.0).astype(np.float32, copy=False)

    def _convert(self, wav: np.ndarray, n: int) -> np.ndarray:
        """One window of ``n`` frames at the input rate → converted audio at the output rate."""
        from rvclora.audio.io import resample

        voice, options = self._voice, self.options
        audio = dsp.highpass_48hz(resample(wav, self.sr, _SR)[: n * _HOP])
        feats = np.asarray(self._converter.encoder.extract(audio, voice.version), dtype=np.float32)
        pitch = start_phase = None
        if voice.f0:
            pitch, start_phase = self._window_pitch(audio, n, options, voice)
        from rvclora.infer.pipeline import piece_inputs

        inputs = piece_inputs(feats, Piece(0, audio.shape[0], 0, n, True), voice, options, pitch)
        # the decoder (most of the work) runs only where output is kept, plus its receptive radius
        skip = max(0, n - self._l - self._k - self._x - _halo(voice))
        out = voice.generate(*inputs, speaker_id=options.speaker_id, phase=start_phase, skip=skip)
        out = self._mix_rms(audio, out, n, skip, voice.sr, options.rms_mix_rate)
        out = resample(out, voice.sr, self.out_sr)
        want = (n - skip) * self._fo
        out = out[:want] if out.shape[0] >= want else np.pad(out, (0, want - out.shape[0]))
        return np.concatenate([np.zeros(skip * self._fo, np.float32), out])

    def _mix_rms(self, audio: np.ndarray, out: np.ndarray, n: int, skip: int, sr: int, rate: float) -> np.ndarray:
        """RMS mix over the whole window, as offline mixes over the whole input: the frames left of the decoded
        part take the model output that earlier steps decoded for them (kept in ``_dry``)."""
        hop = sr // 100
        if self._dry.shape[0] != self._window * hop:  # first step, or a voice of another rate
            self._dry = np.zeros(self._window * hop, np.float32)
        self._dry = np.concatenate([self._dry[self._k * hop :], np.zeros(self._k * hop, np.float32)])
        decoded = out[: (n - skip) * hop]
        self._dry[(self._window - n + skip) * hop : (self._window - n + skip) * hop + decoded.shape[0]] = decoded
        if rate >= 1.0:
            return out
        dry = self._dry[(self._window - n) * hop :]
        return dsp.mix_rms(audio, dry, sr, rate)[skip * hop :]

    def _window_pitch(
        self, audio: np.ndarray, n: int, options: ConvertOptions, voice: Voice
    ) -> tuple[tuple[np.ndarray, np.ndarray], float]:
        """Pitch of the window's frames (fixed ones reused, the block's fixed now) and the NSF start phase."""
        from rvclora.features.f0 import coarse_f0, fill_unvoiced, shift_f0
        from rvclora.infer.pipeline import unvoiced_convention

        assert self._f0 is not None
        k, ahead = self._k, self._l
        # only the block's frames (fixed now) and the lookahead's are read: the estimator sees them and
        # pitch_context before them, not the whole window
        first = max(0, n - ahead - k - self._pc)
        tail = np.asarray(self._f0.estimate(audio[first * _HOP :]), dtype=np.float32)[: n - first]
        estimate = np.zeros(n, np.float32)
        estimate[first : first + tail.shape[0]] = tail
        fixed = self._pitch[self._window - n :]  # a view: the block's frames are written into the store
        fixed[n - ahead - k : n - ahead] = estimate[n - ahead - k : n - ahead]
        hz_raw = np.concatenate([fixed[: n - ahead], estimate[n - ahead :]])
        if unvoiced_convention(voice, options) == "fill":  # within the window: trailing gaps hold the last pitch
            hz_raw = fill_unvoiced(hz_raw)
        hz = np.asarray(shift_f0(hz_raw, options.pitch), dtype=np.float32)
        start = self._end - n
        if self._prev is not None:  # advance the phase by what the previous window's sine ran through
            prev_start, prev_hz = self._prev
            upp = voice.sr // 100
            steps = prev_hz[: start - prev_start].astype(np.float64)
            self._phase = float((self._phase + upp * np.sum((steps / voice.sr) % 1.0)) % 1.0)
        self._prev = (start, hz)
        return (np.asarray(coarse_f0(hz), dtype=np.int64), hz), self._phase
