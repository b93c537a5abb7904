"""The demo world: two voices speaking the same script, a tiny random base, a tiny content encoder.

Everything lands in one folder (see :data:`LAYOUT`) and every file is written atomically; files already there
are kept, so building twice is cheap. Speech comes from espeak-ng or flite when one is installed, else from
:mod:`rvclora.demo.speech`; :attr:`World.speech_source` says which.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rvclora.demo import speech

SR = 40000
VERSION = "v2"
LAYOUT = {
    "assets": "assets",  # demo_f0G40k.pth, demo_f0D40k.pth, demo_hubert_base.pt
    "workspace": "voice",  # an rvclora workspace; raw/ holds voice A's training sentences
    "test": "test",  # source_voice_b.wav (to convert) and reference_voice_a.wav (same words, voice A)
}
# Two tiny voices for TTS engines: (command line for voice A, for voice B); {text} and {out} are filled in.
TTS = {
    "espeak-ng": (
        ["espeak-ng", "-v", "en-us+m3", "-p", "35", "-s", "150", "-w", "{out}", "{text}"],
        ["espeak-ng", "-v", "en-us+f3", "-p", "70", "-s", "165", "-w", "{out}", "{text}"],
    ),
    "flite": (
        ["flite", "-voice", "kal", "-t", "{text}", "-o", "{out}"],
        ["flite", "-voice", "slt", "-t", "{text}", "-o", "{out}"],
    ),
}
TEXTS = (
    "The quiet river runs past the old mill every morning.",
    "Seven bright lamps were hanging above the narrow door.",
    "She said the garden looks greener after the rain.",
    "A small boat drifted slowly toward the sandy shore.",
    "We packed warm bread and apples for the long walk.",
    "The clock in the hall stopped at a quarter past nine.",
    "Please bring the blue folder when you come upstairs.",
    "Thin clouds moved over the hills before the sunset.",
    "My neighbour plays the violin on Sunday evenings.",
    "The train was late, so we talked about the weather.",
    "Fresh snow covered the roofs of the silent village.",
    "He found an old map folded inside the heavy book.",
    "Listen carefully, and you can hear the distant sea.",
)


@dataclass(frozen=True)
class Size:
    """How big the world is: sentences of voice A to train on, and words per sentence."""

    train_sentences: int
    words: int


FULL = Size(train_sentences=8, words=9)
QUICK = Size(train_sentences=4, words=7)


@dataclass
class World:
    """Paths of everything the pipeline starts from, and how the speech was made."""

    root: Path
    speech_source: str
    base: Path
    base_d: Path
    hubert: Path
    workspace: Path
    source: Path
    reference: Path
    train_files: list[Path] = field(default_factory=list)
    train_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (str(v) if isinstance(v, Path) else [str(p) for p in v] if isinstance(v, list) else v)
            for k, v in asdict(self).items()
        }


def speech_engine() -> str | None:
    """The first installed TTS engine (espeak-ng, then flite) that can speak both voices, or None."""
    from rvclora.errors import RvcloraError

    for name in TTS:
        if shutil.which(name):
            try:
                for voice in (0, 1):
                    _tts(name, voice, "test")
            except (OSError, subprocess.SubprocessError, RvcloraError):
                continue  # e.g. a flite build without the slt voice: try the next engine
            return name
    return None


def _tts(engine: str, voice: int, text: str) -> np.ndarray:
    """Speak ``text`` with one of the engine's two voices; returns audio at :data:`SR`."""
    from rvclora.audio.io import load_audio

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tts.wav"
        cmd = [part.replace("{out}", str(out)).replace("{text}", text) for part in TTS[engine][voice]]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        audio, _ = load_audio(out, sr=SR)
    return audio


def _write_speech(dest: Path, engine: str | None, voice: int, index: int, size: Size, seed: int) -> float:
    """Write sentence ``index`` in ``voice`` (0 = A, 1 = B) unless it exists; returns its duration in seconds."""
    from rvclora.audio.io import save_audio
    from rvclora.fileio import atomic_write

    if dest.is_file():
        import soundfile as sf

        return float(sf.info(str(dest)).duration)
    if engine is not None:
        audio = _tts(engine, voice, TEXTS[index % len(TEXTS)])
    else:
        sentence = speech.make_sentences(index + 1, size.words, seed)[index]
        audio = speech.synthesize(sentence, speech.VOICES[voice], SR, seed=seed * 1000 + index * 2 + voice)

    with atomic_write(dest) as tmp:
        save_audio(tmp, audio, SR)
    return len(audio) / SR


def build_world(root: Path, size: Size, seed: int) -> World:
    """Create (or complete) the demo world under ``root``; existing files are reused as they are."""
    from rvclora.demo.assets import build_base, build_tiny_hubert, tiny_config

    engine = speech_engine()
    assets = root / LAYOUT["assets"]
    base, base_d = assets / "demo_f0G40k.pth", assets / "demo_f0D40k.pth"
    if not (base.is_file() and base_d.is_file()):
        build_base(base, base_d, tiny_config(VERSION, SR), seed)
    hubert = assets / "demo_hubert_base.pt"
    if not hubert.is_file():
        build_tiny_hubert(hubert, VERSION, seed=seed)

    workspace = root / LAYOUT["workspace"]
    raw = workspace / "raw"
    train_files = [raw / f"voice_a_{i + 1:02d}.wav" for i in range(size.train_sentences)]
    seconds = sum(_write_speech(p, engine, 0, i, size, seed) for i, p in enumerate(train_files))
    test = root / LAYOUT["test"]
    held_out = size.train_sentences  # a sentence voice A never trained on
    source, reference = test / "source_voice_b.wav", test / "reference_voice_a.wav"
    _write_speech(source, engine, 1, held_out, size, seed)
    _write_speech(reference, engine, 0, held_out, size, seed)
    label = engine or "rvclora's built-in formant synthesizer (no espeak-ng or flite found)"
    return World(
        root=root,
        speech_source=label,
        base=base,
        base_d=base_d,
        hubert=hubert,
        workspace=workspace,
        source=source,
        reference=reference,
        train_files=train_files,
        train_seconds=round(seconds, 2),
    )
