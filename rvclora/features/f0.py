"""F0 (pitch) estimation with RVC's conventions, by any of RVC's methods.

Conventions (rvc-interop.md §5.1, §8): input is mono float audio at 16 kHz; output is F0 in Hz per 10 ms
frame (hop 160), 0 = unvoiced, searched in 50–1100 Hz. **Every method returns ``len(wav)//160 + 1`` frames**,
frame ``i`` centred on sample ``160·i``: that is what harvest, dio, crepe and RMVPE produce natively, and pm
(parselmouth) is zero-padded symmetrically to it as RVC does. RVC crops to ``len//160`` where it needs to; one
fixed length here means callers never special-case a method.

Unvoiced frames are 0 Hz as estimated; :func:`fill_unvoiced` applies RVC main's alternative convention (the
workspace / conversion setting ``unvoiced_f0``).

Heavy packages (torch, pyworld, parselmouth, torchcrepe, torchfcpe) are imported only when a method is built.
"""

from __future__ import annotations

import inspect
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rvclora.choices import F0Method
from rvclora.devices import resolve_device
from rvclora.errors import BadInputError, ConfigError, MissingExtraError

SAMPLE_RATE = 16000
HOP = 160
F0_MIN = 50.0
F0_MAX = 1100.0
_MEL_MIN = 1127.0 * np.log(1.0 + F0_MIN / 700.0)
_MEL_MAX = 1127.0 * np.log(1.0 + F0_MAX / 700.0)


def n_frames(n_samples: int) -> int:
    """Frames every method returns for ``n_samples`` of 16 kHz audio."""
    return n_samples // HOP + 1


def coarse_f0(f0_hz: np.ndarray) -> np.ndarray:
    """RVC's coarse pitch (§5.1): mel-scale bins 1..255; 1 = unvoiced or ≤ 50 Hz, 255 = ≥ 1100 Hz.

    NaN counts as unvoiced and +inf as the top bin, so a bad frame cannot index outside the embedding.
    """
    f0 = np.nan_to_num(np.asarray(f0_hz, dtype=np.float64), nan=0.0, posinf=F0_MAX * 2, neginf=0.0)
    mel = 1127.0 * np.log1p(np.maximum(f0, 0.0) / 700.0)
    voiced = mel > 0
    mel[voiced] = (mel[voiced] - _MEL_MIN) * 254.0 / (_MEL_MAX - _MEL_MIN) + 1.0
    return np.rint(np.clip(mel, 1.0, 255.0)).astype(np.int64)


def shift_f0(f0_hz: np.ndarray, semitones: float) -> np.ndarray:
    """Transpose by ``semitones`` (unvoiced frames stay 0); float input keeps its dtype, other input → float32."""
    f0 = np.asarray(f0_hz)
    if not np.issubdtype(f0.dtype, np.floating):
        f0 = f0.astype(np.float32)
    return f0 * f0.dtype.type(2.0 ** (semitones / 12.0))


def fill_unvoiced(f0_hz: np.ndarray) -> np.ndarray:
    """RVC main's unvoiced convention (rvc-interop.md §11): every 0 Hz frame gets the F0 linearly
    interpolated between the nearest voiced frames; frames before the first / after the last voiced one take
    that frame's value. A track with no voiced frame stays all zeros (upstream's interpolation fails there and
    it keeps the zeros). Takes a 1-D track; returns a copy (float input keeps its dtype, other input → float32).

    Why it matters: a model trained on filled pitch never saw 0 Hz on consonants and breaths, and the NSF
    source then gets a sine on them too; ``protect`` (which acts where pitch < 1 Hz) no longer acts.
    """
    f0 = np.array(f0_hz, copy=True)
    if not np.issubdtype(f0.dtype, np.floating):
        f0 = f0.astype(np.float32)
    unvoiced = f0 == 0
    if unvoiced.all() or not unvoiced.any():
        return f0
    frames = np.arange(f0.size)
    f0[unvoiced] = np.interp(frames[unvoiced], frames[~unvoiced], f0[~unvoiced])
    return f0


def default_f0_method(rmvpe_path: str | os.PathLike[str] | None) -> str:
    """RMVPE when its checkpoint is available (RVC's default), otherwise harvest (no weights needed)."""
    return "rmvpe" if rmvpe_path else "harvest"


def read_f0_file(csv_path: str | os.PathLike[str]) -> np.ndarray:
    """Read an F0 override CSV: lines ``time_s,f0_Hz`` with increasing times → ``[K, 2]`` float64.

    A first line that is not numeric is taken as a header; blank lines are skipped.
    """
    from rvclora.fileio import require_file

    path = require_file(csv_path, "F0 file")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"cannot read F0 file {path}: {exc}", "give a text CSV of time_s,f0_Hz lines") from exc
    rows: list[tuple[float, float]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        try:
            if len(fields) != 2:
                raise ValueError
            t, hz = float(fields[0]), float(fields[1])
        except ValueError:
            if not rows and number == 1:
                continue  # header
            raise BadInputError(
                f"F0 file {path}, line {number}: expected 'time_s,f0_Hz', got {line.strip()!r}",
                "fix or remove that line",
            ) from None
        if not (np.isfinite(t) and np.isfinite(hz)) or t < 0 or hz < 0:
            raise BadInputError(f"F0 file {path}, line {number}: times and F0 must be finite and ≥ 0", "fix that line")
        if rows and t <= rows[-1][0]:
            raise BadInputError(f"F0 file {path}, line {number}: times must increase", "sort the file by time")
        rows.append((t, hz))
    if not rows:
        raise BadInputError(f"F0 file {path} has no 'time_s,f0_Hz' lines", "give at least one line")
    return np.asarray(rows, dtype=np.float64)


def apply_f0_file(f0_hz: np.ndarray, csv_path: str | os.PathLike[str], start_frame: int = 0) -> np.ndarray:
    """Replace part of ``f0_hz`` with the curve in ``csv_path`` (RVC's ``f0_file``, §8 step 7).

    The CSV times are seconds from the start of the (unpadded) input; they map to frames
    ``start_frame + round(100·t)`` — RVC passes ``x_pad·100`` to skip its reflect padding. The frames from the
    first to the last CSV time are overwritten with the linearly interpolated curve; the rest is kept.
    (Upstream assumes the first time is 0; for such files both agree exactly.)
    """
    table = read_f0_file(csv_path)
    out = np.array(f0_hz, dtype=np.float32, copy=True)
    first = int(round(table[0, 0] * 100))
    frames = np.arange(first, int(round(table[-1, 0] * 100)) + 1)
    values = np.interp(frames, table[:, 0] * 100, table[:, 1])
    idx = frames + int(start_frame)
    keep = (idx >= 0) & (idx < len(out))
    out[idx[keep]] = values[keep]
    return out


def _fit_length(f0: np.ndarray, frames: int) -> np.ndarray:
    """Crop or zero-pad at the end to ``frames`` (methods differ by a frame at the edge at most)."""
    f0 = np.asarray(f0, dtype=np.float32).reshape(-1)[:frames]
    return np.pad(f0, (0, frames - len(f0)))


def _as_wav(wav: np.ndarray) -> np.ndarray:
    x = np.asarray(wav, dtype=np.float32)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1 or x.size == 0:
        raise BadInputError(
            f"F0 estimation needs mono audio samples, got shape {x.shape}", "pass a 1-D array at 16 kHz"
        )
    if not np.isfinite(x).all():
        raise BadInputError("F0 estimation input contains NaN or infinite samples", "check the audio file")
    return x


class F0Estimator(ABC):
    """One F0 method. ``estimate(wav_16k)`` → float32 Hz, ``len(wav)//160 + 1`` frames, 0 = unvoiced."""

    name: str = ""

    def estimate(self, wav_16k: np.ndarray) -> np.ndarray:
        x = _as_wav(wav_16k)
        return _fit_length(self._estimate(x), n_frames(len(x)))

    def estimate_many(self, wavs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Estimate several clips; methods that can batch (RMVPE) override this."""
        return [self.estimate(w) for w in wavs]

    @abstractmethod
    def _estimate(self, wav: np.ndarray) -> np.ndarray:
        """F0 for a validated float32 waveform; any length near ``n_frames`` (fitted afterwards)."""

    def __repr__(self) -> str:
        return f"<F0Estimator {self.name}>"


class _WorldEstimator(F0Estimator):
    """harvest/dio from the WORLD vocoder (pyworld), refined by stonemask, as RVC does."""

    def __init__(self) -> None:
        from rvclora.pkg_resources_compat import import_pyworld

        self._pw = import_pyworld()

    @abstractmethod
    def _world(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The raw WORLD estimate ``(f0, times)`` at 10 ms frames."""

    def _estimate(self, wav: np.ndarray) -> np.ndarray:
        x = wav.astype(np.float64)
        f0, t = self._world(x)
        return self._pw.stonemask(x, f0, t, SAMPLE_RATE)


class HarvestEstimator(_WorldEstimator):
    """WORLD harvest: slow but robust. ``median_filter`` applies RVC inference's 3-frame median filter
    (upstream does this when its filter_radius slider is > 2, its default)."""

    name = "harvest"

    def __init__(self, median_filter: bool = False) -> None:
        super().__init__()
        self.median_filter = median_filter

    def _world(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._pw.harvest(x, SAMPLE_RATE, f0_floor=F0_MIN, f0_ceil=F0_MAX, frame_period=1000 * HOP / SAMPLE_RATE)

    def _estimate(self, wav: np.ndarray) -> np.ndarray:
        f0 = super()._estimate(wav)
        if self.median_filter:
            from scipy.signal import medfilt

            f0 = medfilt(f0, 3)
        return f0


class DioEstimator(_WorldEstimator):
    """WORLD dio: fast, less robust than harvest."""

    name = "dio"

    def _world(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._pw.dio(x, SAMPLE_RATE, f0_floor=F0_MIN, f0_ceil=F0_MAX, frame_period=1000 * HOP / SAMPLE_RATE)


class PmEstimator(F0Estimator):
    """Praat's autocorrelation pitch (parselmouth, GPL, hence an optional extra), padded like RVC's ``pm``."""

    name = "pm"

    def __init__(self, voicing_threshold: float = 0.6) -> None:
        self._parselmouth = _import_extra("parselmouth", "pm", "praat-parselmouth")
        self.voicing_threshold = voicing_threshold

    def _estimate(self, wav: np.ndarray) -> np.ndarray:
        pm = self._parselmouth
        frames = n_frames(len(wav))
        try:
            pitch = pm.Sound(wav.astype(np.float64), SAMPLE_RATE).to_pitch_ac(
                time_step=HOP / SAMPLE_RATE,
                voicing_threshold=self.voicing_threshold,
                pitch_floor=F0_MIN,
                pitch_ceiling=F0_MAX,
            )
        except pm.PraatError:  # shorter than one analysis window: no pitch can exist
            return np.zeros(frames, dtype=np.float32)
        f0 = np.nan_to_num(pitch.selected_array["frequency"])[:frames]
        left = (frames - len(f0) + 1) // 2  # Praat's frames are centred in the signal: pad both sides
        return np.pad(f0, (left, frames - len(f0) - left))


class CrepeEstimator(F0Estimator):
    """torchcrepe (weights ship in the package) with RVC's post-processing: median-filtered periodicity,
    mean-filtered F0, unvoiced where periodicity < ``threshold``."""

    name = "crepe"

    def __init__(self, device: str = "cpu", model: str = "full", batch_size: int = 512, threshold: float = 0.1) -> None:
        if model not in ("full", "tiny"):
            raise ConfigError(f"unknown crepe model {model!r}", "use full or tiny")
        self._crepe = _import_extra("torchcrepe", "crepe", "torchcrepe")
        self.device, self.model, self.batch_size, self.threshold = device, model, batch_size, threshold

    def _estimate(self, wav: np.ndarray) -> np.ndarray:
        import torch

        crepe = self._crepe
        wav = np.pad(wav, (0, max(0, 2 * HOP - len(wav))))  # its 3-frame filters need 3 frames; cropped later
        audio = torch.from_numpy(wav).unsqueeze(0)
        f0, periodicity = crepe.predict(
            audio,
            SAMPLE_RATE,
            HOP,
            F0_MIN,
            F0_MAX,
            self.model,
            batch_size=self.batch_size,
            device=self.device,
            return_periodicity=True,
        )
        periodicity = crepe.filter.median(periodicity, 3)
        f0 = crepe.filter.mean(f0, 3)
        f0[periodicity < self.threshold] = 0
        return f0[0].cpu().numpy()


class FcpeEstimator(F0Estimator):
    """torchfcpe's bundled model (fast, GPU-friendly), local-argmax decoding; unvoiced below 50 Hz."""

    name = "fcpe"

    def __init__(self, device: str = "cpu", threshold: float = 0.006) -> None:
        fcpe = _import_extra("torchfcpe", "fcpe", "torchfcpe")
        self.device, self.threshold = device, threshold
        self._model = fcpe.spawn_bundled_infer_model(device=device)

    def _estimate(self, wav: np.ndarray) -> np.ndarray:
        import torch

        audio = torch.from_numpy(wav)[None, :, None].to(self.device)
        with torch.no_grad():
            f0 = self._model.infer(
                audio,
                sr=SAMPLE_RATE,
                decoder_mode="local_argmax",
                threshold=self.threshold,
                f0_min=F0_MIN,
                f0_max=F0_MAX,
                interp_uv=False,
                output_interp_target_length=n_frames(len(wav)),
            )
        f0 = f0.reshape(-1).float().cpu().numpy()
        f0[f0 < F0_MIN] = 0.0
        return f0


class RmvpeEstimator(F0Estimator):
    """RMVPE (upstream's ``rmvpe.pt``): RVC's default and most accurate method. ``dtype`` float16/bfloat16 and
    ``channels_last`` are speed options for GPUs (``channels_last`` None = on for CUDA, where cuDNN's 2-D
    convolutions prefer that layout; off on a CPU); ``batch_size`` bounds clips per forward in
    ``estimate_many``; ``packed`` (None = on a CPU in fp32) runs the U-Net on packed oneDNN convolutions
    (:mod:`rvclora.features.rmvpe_packed`)."""

    name = "rmvpe"

    def __init__(
        self,
        rmvpe: str | os.PathLike[str],
        device: str = "cpu",
        threshold: float = 0.03,
        dtype: str = "float32",
        channels_last: bool | None = None,
        batch_size: int = 8,
        packed: bool | None = None,
    ) -> None:
        if not 0.0 <= threshold < 1.0:
            raise ConfigError(f"RMVPE threshold must be in [0, 1), got {threshold}", "the default is 0.03")
        from rvclora.features.rmvpe import Rmvpe

        self.threshold, self.batch_size = threshold, batch_size
        if channels_last is None:
            channels_last = resolve_device(device).type == "cuda"
        self.model = Rmvpe.load(rmvpe, device=device, dtype=dtype, channels_last=channels_last, packed=packed)

    def _estimate(self, wav: np.ndarray) -> np.ndarray:
        return self.model.f0(wav, self.threshold)

    def estimate_many(self, wavs: Sequence[np.ndarray]) -> list[np.ndarray]:
        clips = [_as_wav(w) for w in wavs]
        f0s = self.model.f0_many(clips, self.threshold, self.batch_size)
        return [_fit_length(f0, n_frames(len(x))) for f0, x in zip(f0s, clips, strict=True)]


_METHODS: dict[F0Method, type[F0Estimator]] = {
    F0Method.rmvpe: RmvpeEstimator,
    F0Method.harvest: HarvestEstimator,
    F0Method.dio: DioEstimator,
    F0Method.pm: PmEstimator,
    F0Method.crepe: CrepeEstimator,
    F0Method.fcpe: FcpeEstimator,
}
F0_METHODS = F0Method.values()


def _import_extra(module: str, extra: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(f"F0 method '{extra}'", extra, package) from exc


def load_f0_estimator(
    method: str, rmvpe: str | os.PathLike[str] | None = None, device: str = "cpu", **options: Any
) -> F0Estimator:
    """Build an F0 estimator by name (one of :data:`F0_METHODS`).

    ``rmvpe`` is the path of upstream's ``rmvpe.pt`` (needed by, and only by, method ``rmvpe``); ``device``
    is used by the neural methods (rmvpe, crepe, fcpe). ``options`` are the method's keyword arguments, e.g.
    ``threshold`` (rmvpe, crepe, fcpe), ``median_filter`` (harvest), ``dtype`` (rmvpe).
    """
    cls = _METHODS[F0Method.parse(method)]
    params = inspect.signature(cls.__init__).parameters
    unknown = sorted(set(options) - set(params))
    if unknown:
        accepted = [p for p in params if p not in ("self", "rmvpe", "device")]
        raise ConfigError(
            f"F0 method {cls.name!r} has no option {', '.join(unknown)}",
            f"its options: {', '.join(accepted) or 'none'}",
        )
    kwargs = dict(options)
    if "device" in params:
        kwargs["device"] = device
    if cls is RmvpeEstimator:
        if not rmvpe:
            raise ConfigError(
                "F0 method 'rmvpe' needs the RMVPE checkpoint (rmvpe.pt)",
                "give its path, or choose another method such as harvest",
            )
        kwargs["rmvpe"] = Path(rmvpe)
    return cls(**kwargs)
