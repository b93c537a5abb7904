"""One pair of files → its metrics, as a plain result object.

The :class:`Evaluator` loads the F0 estimator and the (optional) speaker encoder once, then scores pairs:
decode both files (mix down, bring them to a common rate), analyse each, align the frames once (DTW on the
mel-cepstra, or frame by frame) and compute every frame-wise metric along that one path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rvclora.audio.io import is_audio_file, load_audio
from rvclora.errors import BadInputError, ConfigError
from rvclora.evaluate.analysis import Features, Loaded, analyse, load_mono
from rvclora.evaluate.bands import BANDS, rating
from rvclora.evaluate.dtw import dtw_path, euclidean_cost, time_path
from rvclora.evaluate.f0_metrics import f0_scores
from rvclora.evaluate.mcd import mel_cepstral_distortion, pymcd_mcep
from rvclora.evaluate.settings import ANALYSIS_RATE, F0_RATE, Align, EvalSettings, McdStyle
from rvclora.evaluate.speaker import cosine_similarity, install_hint, load_speaker_encoder, mean_embedding
from rvclora.evaluate.spectral import spectral_convergence
from rvclora.features.f0 import shift_f0

METRIC_KEYS = ("mcd_db", "spectral_convergence", "f0_rmse_cents", "f0_corr", "vuv_error", "speaker_similarity")
# computed only when asked for (EvalSettings.phones): present in a result's metrics only then
OPTIONAL_KEYS = ("phone_error_rate",)


@dataclass
class PairResult:
    """Metrics of one pair (None = undefined) plus the aligned contours and spectra a plot needs."""

    name: str
    ref: Path
    converted: Path
    sample_rate: int
    frames: int
    voiced_frames: int
    metrics: dict[str, float | None]
    mcd_style: str = "classic"
    notes: list[str] = field(default_factory=list)
    f0_ref: np.ndarray | None = None  # reference F0 after the --pitch shift
    f0_conv: np.ndarray | None = None
    spec_ref: np.ndarray | None = None
    spec_conv: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this pair (no arrays)."""
        return {
            "name": self.name,
            "ref": str(self.ref),
            "converted": str(self.converted),
            **self.metrics,
            "ratings": {k: rating(k, v, self.mcd_style) for k, v in self.metrics.items() if k in BANDS},
            "mcd_style": self.mcd_style,
            "sample_rate": self.sample_rate,
            "aligned_frames": self.frames,
            "voiced_frames": self.voiced_frames,
            "notes": self.notes,
        }


class Evaluator:
    """Scores pairs with one set of settings; ``notes`` collects remarks that concern every pair."""

    def __init__(self, settings: EvalSettings) -> None:
        from rvclora.features.f0 import load_f0_estimator

        if settings.target_voice is not None and settings.speaker is False:
            raise ConfigError("--target-voice needs speaker similarity", "drop --no-speaker")
        self.settings = settings
        self.notes: list[str] = []
        self._f0 = load_f0_estimator(settings.f0_method, rmvpe=settings.rmvpe, device=settings.device)
        wanted = True if settings.target_voice is not None else settings.speaker
        self._speaker = load_speaker_encoder(wanted, settings.device)
        if self._speaker is None and wanted is None:
            self.notes.append(f"speaker similarity skipped: install it with {install_hint()}")
        if settings.mcd_style is McdStyle.pymcd:
            self.notes.append(
                "MCD in pymcd style (order 13, alpha 0.65, c0 counted): far lower than classic MCD, "
                "so it gets no rating band; compare it only with pymcd numbers"
            )
        self._target = self._target_embedding(settings.target_voice) if settings.target_voice else None
        self._phones = None
        if settings.phones:
            from rvclora.evaluate.phones import PhoneRecognizer

            self._phones = PhoneRecognizer()  # a missing extra is one line naming the pip install

    def _target_embedding(self, folder: Path) -> np.ndarray:
        if not folder.is_dir():
            raise BadInputError(f"--target-voice folder not found: {folder}", "give a folder of the target's audio")
        files = [p for p in sorted(folder.iterdir()) if is_audio_file(p)]
        assert self._speaker is not None
        centroid = mean_embedding(self._speaker.embed(load_audio(p, sr=F0_RATE)[0]) for p in files)
        if centroid is None:
            raise BadInputError(
                f"--target-voice folder {folder} has no audio with speech in it", "add recordings of the target voice"
            )
        return centroid

    def evaluate(self, ref_path: Path, conv_path: Path, name: str | None = None) -> PairResult:
        """All metrics of one pair."""
        ref, conv = load_mono(ref_path), load_mono(conv_path)
        notes = _input_notes(ref, conv)
        rate = ANALYSIS_RATE
        order = self.settings.mcep_order
        fr, fc = analyse(ref, rate, self._f0, order), analyse(conv, rate, self._f0, order)
        path = self._path(fr, fc)
        f0_ref = shift_f0(np.asarray(fr.f0, dtype=np.float64), self.settings.pitch)
        f0 = f0_scores(f0_ref, fc.f0, path)
        mcd = self._mcd(fr, fc, path)
        silent = ref.silent or conv.silent
        metrics = {
            "mcd_db": mcd,
            "spectral_convergence": None if silent else spectral_convergence(fr.spec, fc.spec, path),
            "f0_rmse_cents": f0.rmse_cents,
            "f0_corr": f0.corr,
            "vuv_error": f0.vuv_error,
            "speaker_similarity": None if silent else self._speaker_similarity(fr, fc),
        }
        if self._phones is not None:
            metrics["phone_error_rate"] = None if silent else self._phone_error_rate(fr, fc)
        if f0.voiced_both == 0 and not silent:
            notes.append("no frame is voiced in both files: F0 RMSE and correlation are undefined")
        return PairResult(
            name=name or conv.path.stem,
            ref=ref.path,
            converted=conv.path,
            sample_rate=rate,
            frames=len(path[0]),
            voiced_frames=f0.voiced_both,
            metrics=metrics,
            mcd_style=self.settings.mcd_style.value,
            notes=notes,
            f0_ref=f0_ref[path[0]],
            f0_conv=fc.f0[path[1]],
            spec_ref=fr.spec,
            spec_conv=fc.spec,
        )

    def _path(self, fr: Features, fc: Features) -> tuple[np.ndarray, np.ndarray]:
        """DTW on c1..cD when asked and both files have cepstra; otherwise frame i with frame i."""
        if self.settings.align is Align.dtw and fr.mcep is not None and fc.mcep is not None:
            return dtw_path(euclidean_cost(fr.mcep[:, 1:], fc.mcep[:, 1:]))
        return time_path(len(fr.f0), len(fc.f0))

    def _mcd(self, fr: Features, fc: Features, path: tuple[np.ndarray, np.ndarray]) -> float | None:
        """MCD along ``path`` in the configured style; None when either file is silent."""
        if fr.envelope is None or fc.envelope is None or fr.mcep is None or fc.mcep is None:
            return None  # a silent file
        if self.settings.mcd_style is McdStyle.pymcd:
            return mel_cepstral_distortion(pymcd_mcep(fr.envelope), pymcd_mcep(fc.envelope), path, first=0)
        return mel_cepstral_distortion(fr.mcep, fc.mcep, path)

    def _phone_error_rate(self, fr: Features, fc: Features) -> float | None:
        """Content kept: phone edits from the reference (the conversion's source) to the conversion."""
        from rvclora.evaluate.phones import phone_error_rate

        assert self._phones is not None
        return phone_error_rate(self._phones.phones(fr.wav_16k), self._phones.phones(fc.wav_16k))

    def _speaker_similarity(self, fr: Features, fc: Features) -> float | None:
        if self._speaker is None:
            return None
        target = self._target if self._target is not None else self._speaker.embed(fr.wav_16k)
        return cosine_similarity(self._speaker.embed(fc.wav_16k), target)


def _input_notes(ref: Loaded, conv: Loaded) -> list[str]:
    """What was done to the inputs to make them comparable, and what cannot be measured."""
    notes = []
    for label, item in (("reference", ref), ("converted", conv)):
        if item.channels > 1:
            notes.append(f"{label} has {item.channels} channels: mixed down to mono")
        if item.silent:
            notes.append(
                f"{label} is silent (peak below -80 dBFS): MCD, spectral convergence, F0 RMSE/"
                "correlation and speaker similarity are undefined"
            )
    if ref.sr != conv.sr:
        notes.append(
            f"sample rates differ ({ref.sr} vs {conv.sr} Hz): both are analysed resampled to "
            f"{ANALYSIS_RATE} Hz for MCD and spectral convergence, as every pair is"
        )
    return notes
