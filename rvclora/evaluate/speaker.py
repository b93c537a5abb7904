"""Speaker similarity: cosine similarity of resemblyzer speaker embeddings (optional extra ``speaker``).

resemblyzer (GE2E d-vectors, 16 kHz) is optional because it pulls webrtcvad, which needs a C compiler on some
platforms. Without it the metric is reported as undefined unless the user asked for it explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np

from rvclora.errors import MissingExtraError

EXTRA = "speaker"


class SpeakerEncoder(Protocol):
    def embed(self, wav_16k: np.ndarray) -> np.ndarray | None:
        """A speaker embedding of 16 kHz mono audio, or None when there is no speech to embed."""


class _Resemblyzer:
    """resemblyzer's VoiceEncoder behind the SpeakerEncoder interface."""

    def __init__(self, device: str) -> None:
        resemblyzer = _import_resemblyzer()
        self._preprocess = resemblyzer.preprocess_wav
        self._encoder = resemblyzer.VoiceEncoder(device=device, verbose=False)

    def embed(self, wav_16k: np.ndarray) -> np.ndarray | None:
        speech = self._preprocess(np.asarray(wav_16k, dtype=np.float32), source_sr=16000)
        if len(speech) < 1600:  # under 0.1 s of speech left after its silence trimming
            return None
        return np.asarray(self._encoder.embed_utterance(speech), dtype=np.float64)


def load_speaker_encoder(wanted: bool | None, device: str = "cpu") -> SpeakerEncoder | None:
    """The encoder, or None when skipped (``wanted`` False) or unavailable and not required (``wanted`` None)."""
    if wanted is False:
        return None
    try:
        return _Resemblyzer(device)
    except ImportError as exc:
        if wanted:
            raise MissingExtraError("speaker similarity", EXTRA, "resemblyzer") from exc
        return None


def _import_resemblyzer() -> Any:
    """resemblyzer, with its webrtcvad imported first: webrtcvad 2.0.10 needs pkg_resources for its version,
    which setuptools 81+ no longer ships (rvclora.pkg_resources_compat stands in for it)."""
    from rvclora.pkg_resources_compat import import_with_stand_in

    import_with_stand_in("webrtcvad")
    return import_with_stand_in("resemblyzer")


def cosine_similarity(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """cos(a, b); None when either embedding is missing or zero."""
    if a is None or b is None:
        return None
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return None
    return float(np.dot(a, b) / (na * nb))


def mean_embedding(embeddings: Iterable[np.ndarray | None]) -> np.ndarray | None:
    """The voice's centroid: mean of the unit-normalised embeddings that exist (None if none do)."""
    units = [e / np.linalg.norm(e) for e in embeddings if e is not None and np.linalg.norm(e) > 0]
    return np.mean(units, axis=0) if units else None
