"""Frame phone labels by forced alignment: pocketsphinx aligns each rendering to its known sentence.

Labels are at 100 frames/s (pocketsphinx's 10 ms frames); the content encoder reads every other one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# CMUdict's 39 phones plus silence (pocketsphinx en-us); index 0 is silence.
PHONES = (
    "SIL",
    "AA",
    "AE",
    "AH",
    "AO",
    "AW",
    "AY",
    "B",
    "CH",
    "D",
    "DH",
    "EH",
    "ER",
    "EY",
    "F",
    "G",
    "HH",
    "IH",
    "IY",
    "JH",
    "K",
    "L",
    "M",
    "N",
    "NG",
    "OW",
    "OY",
    "P",
    "R",
    "S",
    "SH",
    "T",
    "TH",
    "UH",
    "UW",
    "V",
    "W",
    "Y",
    "Z",
    "ZH",
)
INDEX = {p: i for i, p in enumerate(PHONES)}
RATE = 16000


class Aligner:
    """pocketsphinx forced alignment (a fresh decoder per file: a decoder left in phone-alignment mode
    does not take the next file's text)."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder

    def labels(self, wav_16k: np.ndarray, words: list[str]) -> np.ndarray:
        """Phone index per 10 ms frame (int16); silence where the aligner gives nothing; an empty array
        when the alignment fails (the search finds no path: the file is left out of encoder training)."""
        pcm = (np.clip(wav_16k, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        d = self._decoder(samprate=RATE, loglevel="FATAL")
        d.set_align_text(" ".join(words))
        try:
            for second_pass in (False, True):  # words first, then phones (pocketsphinx's two-pass alignment)
                if second_pass:
                    d.set_alignment()
                d.start_utt()
                d.process_raw(pcm, full_utt=True)
                d.end_utt()
        except RuntimeError:
            return np.zeros(0, dtype=np.int16)
        out = np.zeros(len(wav_16k) // 160 + 1, dtype=np.int16)
        for word in d.get_alignment() or []:
            for ph in word:
                out[ph.start : ph.start + ph.duration] = INDEX.get(ph.name.split("_")[0], 0)
        return out


def label_file(aligner: Aligner, wav_path: Path, words: list[str], dest: Path) -> np.ndarray:
    """Align one file and save its labels as ``dest`` (.npy)."""
    import soundfile as sf

    wav, sr = sf.read(wav_path, dtype="float32")
    assert sr == RATE, sr
    labels = aligner.labels(wav, words)
    np.save(dest, labels)
    return labels
