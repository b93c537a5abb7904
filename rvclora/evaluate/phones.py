"""Phone error rate: does converted speech keep the content of its source? (extra ``phones``: pocketsphinx)

pocketsphinx's en-us phone decoder (its wheel ships the acoustic model and a phone language model) turns
each file into a phone sequence; PER = Levenshtein distance(source phones, converted phones) / len(source
phones). Silences are left out. The same decoder reads both files, so its own errors on clean speech are
the floor: compare PER against that of the source with itself being 0, not against a transcript.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from rvclora.errors import MissingExtraError

EXTRA = "phones"
RATE = 16000
_SKIP = {"SIL", "+SPN+", "+NSN+", "<s>", "</s>", "<sil>"}


class PhoneRecognizer:
    """A pocketsphinx decoder in phone-loop (allphone) mode, loaded once."""

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder, get_model_path
        except ImportError as exc:
            raise MissingExtraError("phone error rate", EXTRA, "pocketsphinx") from exc
        model = os.path.join(get_model_path(), "en-us")
        self._decoder = Decoder(
            samprate=RATE,
            allphone=os.path.join(model, "en-us-phone.lm.bin"),
            lw=2.0,
            beam=1e-20,
            pbeam=1e-20,
            loglevel="FATAL",
        )

    def phones(self, wav_16k: np.ndarray) -> list[str]:
        """The recognised phones of a 16 kHz mono waveform (float, -1..1), silences dropped."""
        pcm = (np.clip(np.asarray(wav_16k, dtype=np.float32), -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        d = self._decoder
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        return [s.word for s in d.seg() if s.word not in _SKIP]


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance (substitutions, insertions and deletions all cost 1)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def phone_error_rate(source: Sequence[str], converted: Sequence[str]) -> float | None:
    """Edits per source phone; None when the source has no phones."""
    return None if not source else edit_distance(source, converted) / len(source)
