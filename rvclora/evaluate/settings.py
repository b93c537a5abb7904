"""Settings of ``rvclora eval``: the one place its defaults live (CLI and library both read them).

Kept free of numpy/scipy imports so ``rvclora eval --help`` stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rvclora.choices import Align as Align  # re-exported: the eval settings' choices
from rvclora.choices import McdStyle as McdStyle

FRAME_PERIOD_S = 0.01  # every frame-wise metric uses the 10 ms grid of RVC's F0 (hop 160 at 16 kHz)
F0_RATE = 16000  # F0 estimators take 16 kHz audio, as in RVC
# MCD and spectral convergence analyse every file at this one rate, so that scores of files at 16, 40 or 48 kHz
# compare (at a file's own rate, empty bands above 8 kHz would dominate the score)
ANALYSIS_RATE = 16000
SILENCE_PEAK = 1e-4  # a file whose peak is below -80 dBFS counts as silent: its metrics are undefined


@dataclass(frozen=True)
class EvalSettings:
    """Everything that changes the numbers ``rvclora eval`` reports."""

    f0_method: str = "harvest"
    rmvpe: Path | None = None
    pitch: float = 0.0  # semitones: the reference F0 is multiplied by 2**(pitch/12) before comparing
    align: Align = Align.dtw
    mcep_order: int = 24  # mel-cepstrum c0..c24; MCD uses c1..c24
    mcd_style: McdStyle = McdStyle.classic
    speaker: bool | None = None  # None: when the 'speaker' extra is installed; True: required; False: skip
    target_voice: Path | None = None  # folder whose mean speaker embedding replaces the reference's
    phones: bool = False  # phone error rate of converted vs reference (the source): extra 'phones'
    device: str = "cpu"
