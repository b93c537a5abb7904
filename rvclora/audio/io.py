"""Decode and write audio files.

Every stage reads audio through :func:`load_audio` and writes through :func:`save_audio`, so formats,
channel mix-down, resampling and the atomic-write promise are handled in one place.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from rvclora.choices import AudioFormat
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


#: output extensions and the soundfile format each is written in (offered where this libsndfile can write it)
OUTPUT_EXTENSIONS = {f.value: f.soundfile_format for f in AudioFormat}
#: MPEG audio exists only at these rates: other outputs are resampled to the next one up for .mp3
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def writable_extensions() -> list[str]:
    """Output extensions the installed libsndfile can write (asked at run time: builds differ, e.g. MP3)."""
    import soundfile as sf

    have = sf.available_formats()
    return [ext for ext, fmt in OUTPUT_EXTENSIONS.items() if fmt in have]


def output_format(ext: str) -> str:
    """The soundfile format for an output extension, or a one-line refusal listing what can be written."""
    ext = ext.lower().lstrip(".")
    if ext not in writable_extensions():
        from rvclora.errors import ConfigError

        supported = ", ".join(f".{e}" for e in writable_extensions())
        raise ConfigError(
            f"unsupported output format .{ext}: this soundfile cannot write it", f"use one of {supported}, or --format"
        )
    return OUTPUT_EXTENSIONS[ext]


def fit_rate(ext: str, sr: int) -> int:
    """The rate an output of ``sr`` Hz is written at in format ``ext`` (MP3 allows only :data:`MP3_RATES`)."""
    if OUTPUT_EXTENSIONS.get(ext.lower().lstrip("."), "") != "MP3" or sr in MP3_RATES:
        return sr
    return next((r for r in MP3_RATES if r > sr), MP3_RATES[-1])


def save_audio(
    path: str | os.PathLike[str],
    audio: np.ndarray,
    sr: int,
    subtype: str | None = None,
    format: str | None = None,
) -> None:
    """Write ``audio`` (``[samples]`` or ``[channels, samples]``) atomically; format from the extension."""
    data = np.asarray(audio, dtype=np.float32)
    data = data.T if data.ndim == 2 else data
    fmt = format or Path(path).suffix.lstrip(".") or "WAV"
    write_audio_blocks(Path(path), [data], sr, data.shape[0], fmt, subtype)


def write_audio_blocks(
    dest: Path | None,
    blocks: Iterable[np.ndarray],
    sr: int,
    frames: int,
    format: str = "wav",
    subtype: str | None = None,
) -> None:
    """Encode ``blocks`` (``[samples]`` or ``[samples, channels]``, ``frames`` in all) as they come.

    A regular file is written atomically (temporary file, then rename); an existing file that is not a regular
    file (``/dev/full``, a named pipe) is written in place; ``None`` is stdout. A full disk is reported as one
    line naming the device, the file and the size needed.
    """
    import tempfile

    fmt = OUTPUT_EXTENSIONS.get(format.lower(), format.upper())
    channels = 1
    blocks = iter(blocks)
    first = next(blocks, np.zeros(0, np.float32))
    if first.ndim == 2:
        channels = first.shape[1]
    needed = _encoded_size(frames * channels, fmt, subtype)
    stream = _chain(first, blocks)
    if dest is None:
        with tempfile.TemporaryDirectory(prefix="rvclora-out-") as folder:
            tmp = Path(folder) / f"out.{format.lower()}"
            _encode(tmp, tmp, stream, sr, channels, fmt, subtype, needed)
            _copy_to_stdout(tmp, needed)
    elif dest.exists() and not dest.is_file() and not dest.is_dir():
        _encode(dest, dest, stream, sr, channels, fmt, subtype, needed)
    else:
        with atomic_write(dest) as tmp:
            _encode(tmp, dest, stream, sr, channels, fmt, subtype, needed)


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def _encoded_size(samples: int, fmt: str, subtype: str | None) -> int | None:
    """Bytes a PCM output takes (header aside); None for compressed formats, whose size is not known ahead."""
    import soundfile as sf

    subtype = (subtype or sf.default_subtype(fmt) or "").upper()
    width = {"PCM_S8": 1, "PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8}.get(subtype)
    return samples * width + 64 if width else None


class _ReportingFile:
    """A file for soundfile's virtual I/O that keeps the OS error of a failed write (libsndfile only says
    "System error") and hands libsndfile a short write instead of an exception."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        done = 0
        try:
            while done < len(view):
                done += self.raw.write(view[done:]) or 0
        except OSError as exc:
            self.error = self.error or exc
        return done

    def read(self, size: int = -1) -> bytes:
        return self.raw.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()


def _encode(
    path: Path,
    shown: Path,
    blocks: Iterable[np.ndarray],
    sr: int,
    channels: int,
    fmt: str,
    subtype: str | None,
    needed: int | None,
) -> None:
    import soundfile as sf

    from rvclora.errors import OutputError, RvcloraError

    try:
        raw = open(path, "w+b", buffering=0)
    except OSError as exc:
        raise _os_error(exc, shown, needed) from exc
    reporting = _ReportingFile(raw)
    try:
        with raw:
            with sf.SoundFile(reporting, "w", sr, channels, subtype=subtype, format=fmt) as fh:
                for block in blocks:
                    fh.write(block)
    except (RuntimeError, ValueError, TypeError, AssertionError) as exc:
        if reporting.error is not None:
            raise _os_error(reporting.error, shown, needed) from exc
        if isinstance(exc, RvcloraError):
            raise
        raise OutputError(
            f"cannot write {shown} as {fmt} {subtype or ''}: {exc}".replace(" :", ":"), "check --format/--subtype"
        ) from exc
    except OSError as exc:
        raise _os_error(exc, shown, needed) from exc
    if reporting.error is not None:
        raise _os_error(reporting.error, shown, needed)


def _os_error(exc: OSError, dest: Path | str, needed: int | None) -> Exception:
    import errno

    from rvclora.errors import OutputError
    from rvclora.fileio import disk_full_error

    if exc.errno == errno.ENOSPC:
        return disk_full_error(dest, needed)
    return OutputError(f"cannot write {dest}: {exc.strerror or exc}", "choose a writable output path")


def _stdout_name() -> str:
    """What stdout is (a file, a device), to name it in a disk-full message."""
    link = Path(f"/proc/self/fd/{_stdout_fd()}")
    try:
        return os.path.realpath(link) if link.exists() else "stdout"
    except OSError:
        return "stdout"


def _stdout_fd() -> int:
    import sys

    try:
        return sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return 1


def _copy_to_stdout(path: Path, needed: int | None) -> None:
    """Copy an encoded file to stdout with unbuffered writes, so a failed write leaves nothing that Python
    would try (and fail) to flush again at exit."""
    import sys

    write: Callable[[bytes], int]
    try:
        sys.stdout.flush()
        fd = sys.stdout.fileno()
        write = functools.partial(os.write, fd)
    except (AttributeError, OSError, ValueError):  # no real stream (a test's capture): its binary buffer
        write = sys.stdout.buffer.write
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                view = memoryview(chunk)
                while view:
                    view = view[write(view) or 0 :]
        if write is sys.stdout.buffer.write:
            sys.stdout.buffer.flush()
    except OSError as exc:
        import errno

        from rvclora.errors import OutputError

        if exc.errno == errno.EPIPE:
            raise OutputError(
                "stdout was closed before all audio was written (broken pipe)",
                "check the command reading rvclora's output",
            ) from exc
        raise _os_error(exc, _stdout_name(), needed) from exc
