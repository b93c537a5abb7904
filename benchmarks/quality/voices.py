"""The benchmark's speakers: Debian's speech synthesisers, each voice rendered to a 16 kHz mono WAV.

flite's awb, rms and slt are CMU ARCTIC recordings (clustergen voices) and kal a diphone voice; festival's
kal_diphone and ked_diphone; espeak-ng's formant voices with its speaker variants. None needs a download.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

APT = "apt-get install -y flite espeak-ng festival festvox-kallpc16k festvox-kdlpc16k"
RATE = 16000
# name → (program, argument list before the text)
VOICES: dict[str, tuple[str, list[str]]] = {
    "flite_awb": ("flite", ["-voice", "awb"]),
    "flite_rms": ("flite", ["-voice", "rms"]),
    "flite_slt": ("flite", ["-voice", "slt"]),
    "flite_kal": ("flite", ["-voice", "kal16"]),
    "festival_kal": ("text2wave", ["-eval", "(voice_kal_diphone)"]),
    "festival_ked": ("text2wave", ["-eval", "(voice_ked_diphone)"]),
    "espeak_us": ("espeak-ng", ["-v", "en-us", "-s", "150"]),
    "espeak_f3": ("espeak-ng", ["-v", "en-us+f3", "-s", "150"]),
    "espeak_m3": ("espeak-ng", ["-v", "en-gb+m3", "-s", "150"]),
}


def missing_tools(voices: list[str]) -> list[str]:
    """Programs the chosen voices need that are not installed (festival's voices are checked by a render)."""
    return sorted({VOICES[v][0] for v in voices if shutil.which(VOICES[v][0]) is None})


def render(voice: str, text: str, dest: Path) -> None:
    """Say ``text`` in ``voice``; writes a 16 kHz mono float WAV to ``dest``."""
    import librosa
    import soundfile as sf

    program, args = VOICES[voice]
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "out.wav"
        if program == "text2wave":
            txt = Path(tmp) / "in.txt"
            txt.write_text(text + "\n", encoding="utf-8")
            cmd = [program, *args, "-o", str(raw), str(txt)]
        elif program == "flite":
            cmd = [program, *args, "-t", text, "-o", str(raw)]
        else:
            cmd = [program, *args, "-w", str(raw), text]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        wav, sr = sf.read(raw, dtype="float32", always_2d=True)
    wav = wav.mean(axis=1)
    if sr != RATE:
        wav = librosa.resample(wav, orig_sr=sr, target_sr=RATE)
    peak = float(np.abs(wav).max()) or 1.0
    dest.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dest, (0.8 * wav / peak).astype(np.float32), RATE, subtype="FLOAT")
