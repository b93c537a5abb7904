"""Decode and write audio files.

Every stage reads audio through :func:`load_audio` and writes through :func:`save_audio`, so formats,
channel mix-down, resampling and the atomic-write promise are handled in one place.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from rvclora.errors import BadInputError
from rvclora.fileio import atomic_write, require_file

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus", ".aiff", ".aif", ".wma")


def is_audio_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS and not path.name.startswith(".")


def _decode(source: str | BinaryIO, name: str) -> tuple[np.ndarray, int]:
    """Return float32 ``[samples, channels]`` and the file's rate (soundfile first, librosa as fallback)."""
    import soundfile as sf

    try:
        data, sr = sf.read(source, dtype="float32", always_2d=True)
        return data, int(sr)
    except Exception as sf_error:  # soundfile cannot read it: try librosa/audioread (e.g. m4a)
        if not isinstance(source, str):
            raise BadInputError(f"cannot decode audio {name}: {sf_error}", "use wav, flac or ogg") from sf_error
        try:
            import warnings

            import librosa

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data, sr = librosa.load(source, sr=None, mono=False)
        except Exception as exc:
            raise BadInputError(
                f"cannot decode audio {name}: {str(sf_error).splitlines()[0]}",
                "the file is corrupt or in a format soundfile/librosa cannot read",
            ) from exc
        data = np.asarray(data, dtype=np.float32)
        return (data[:, None] if data.ndim == 1 else data.T), int(sr)


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis (librosa's default high-quality resampler)."""
    if orig_sr == target_sr:
        return audio
    import librosa

    return librosa.resample(audio, orig_sr=orig_sr, target_sr=target_sr).astype(np.float32, copy=False)


def load_audio(
    path: str | os.PathLike[str] | BinaryIO, sr: int | None = None, mono: bool = True
) -> tuple[np.ndarray, int]:
    """Decode ``path`` (a file path or a binary stream) to float32.

    Returns ``(audio, rate)``: ``audio`` is ``[samples]`` when ``mono`` (channels averaged) else
    ``[channels, samples]``; resampled to ``sr`` when given. Raises :class:`BadInputError` for unreadable,
    empty or non-finite audio.
    """
    if isinstance(path, (str, os.PathLike)):
        p = require_file(path, "audio file")
        name = str(p)
        data, file_sr = _decode(str(p), name)
    else:
        name = getattr(path, "name", "<stream>")
        raw = path.read()
        if not raw:
            raise BadInputError(f"no audio data on {name}", "pipe a WAV/FLAC/OGG stream in")
        data, file_sr = _decode(io.BytesIO(raw), str(name))
    if data.shape[0] == 0:
        raise BadInputError(f"audio file {name} is empty (0 samples)", "give a file with sound in it")
    if not np.isfinite(data).all():
        raise BadInputError(f"audio file {name} contains NaN or infinite samples", "re-export it")
    audio = data.mean(axis=1) if mono else data.T
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if sr is not None and sr != file_sr:
        audio = resample(audio, file_sr, sr)
        file_sr = sr
    return audio, file_sr


def save_audio(
    path: str | os.PathLike[str],
    audio: np.ndarray,
    sr: int,
    subtype: str | None = None,
    format: str | None = None,
) -> None:
    """Write ``audio`` (``[samples]`` or ``[channels, samples]``) atomically; format from the extension."""
    import soundfile as sf

    data = np.asarray(audio, dtype=np.float32)
    data = data.T if data.ndim == 2 else data
    with atomic_write(path) as tmp:
        fmt = format or Path(path).suffix.lstrip(".").upper() or "WAV"
        sf.write(str(tmp), data, sr, subtype=subtype, format=fmt)


def encode_audio(audio: np.ndarray, sr: int, format: str = "WAV", subtype: str | None = None) -> bytes:
    """Encode to bytes (for writing to stdout)."""
    import soundfile as sf

    buf = io.BytesIO()
    data = np.asarray(audio, dtype=np.float32)
    sf.write(buf, data.T if data.ndim == 2 else data, sr, subtype=subtype, format=format)
    return buf.getvalue()
