"""Speech-like audio made from scratch, so the demo needs no recordings and no TTS engine.

A source-filter model, the classic way to make vowels: a Rosenberg glottal pulse train (its derivative,
which also stands in for lip radiation) follows a time-varying F0 contour (phrase declination, word
accents, slow drift); its spectrum is shaped frame by frame by four formant resonances that glide between
vowel targets. Fricatives, plosive bursts and breath are shaped noise; pauses separate words and phrases.
Two :class:`Voice`\\ s differ in F0 range and vocal-tract length (formant scaling), so they are
distinguishable the way two speakers are. The output is not language, but it has speech's structure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONTROL_RATE = 200  # control tracks (F0, formants, amplitudes) per second
VOWELS = {  # F1, F2, F3 of an adult male vocal tract (Peterson & Barney style averages)
    "a": (730.0, 1090.0, 2440.0),
    "e": (530.0, 1840.0, 2480.0),
    "i": (270.0, 2290.0, 3010.0),
    "o": (570.0, 840.0, 2410.0),
    "u": (300.0, 870.0, 2240.0),
}
SONORANTS = {"m": (250.0, 1100.0, 2300.0), "n": (250.0, 1700.0, 2600.0), "l": (360.0, 1300.0, 2900.0)}
FRICATIVES = {"s": 6000.0, "sh": 3000.0, "f": 7000.0, "h": 0.0}  # noise centre (Hz); h = aspirated vowel
PLOSIVES = {"p": 1200.0, "t": 4000.0, "k": 2400.0}  # burst centre (Hz)
CONSONANTS = ("", "", *SONORANTS, *FRICATIVES, *PLOSIVES)
F4 = 3300.0
BANDWIDTHS = (70.0, 100.0, 130.0, 180.0)


@dataclass(frozen=True)
class Voice:
    """A synthetic speaker: median F0, accent excursion, vocal-tract scaling, tempo and breathiness."""

    name: str
    f0_hz: float
    f0_range_st: float  # size of phrase declination and word accents, in semitones
    formant_scale: float  # >1 = shorter vocal tract = higher formants
    syllables_per_s: float
    breath: float


VOICES = (
    Voice("voice_a", f0_hz=115.0, f0_range_st=4.0, formant_scale=1.0, syllables_per_s=4.5, breath=0.03),
    Voice("voice_b", f0_hz=215.0, f0_range_st=6.0, formant_scale=1.17, syllables_per_s=5.0, breath=0.06),
)

Syllable = tuple[str, str]  # (consonant, vowel)
Sentence = list[list[Syllable]]  # words of syllables


def make_sentences(count: int, words: int, seed: int) -> list[Sentence]:
    """Random pseudo-sentences (the same script can then be spoken by every voice: a parallel corpus)."""
    rng = np.random.default_rng(seed)
    vowels = list(VOWELS)
    return [
        [
            [(str(rng.choice(CONSONANTS)), str(rng.choice(vowels))) for _ in range(int(rng.integers(1, 4)))]
            for _ in range(words)
        ]
        for _ in range(count)
    ]


@dataclass
class _Tracks:
    """Control tracks at CONTROL_RATE: voicing amplitude, noise (bump / aspiration), formants, accents."""

    voiced: list[float]
    bump: list[float]
    bump_hz: list[float]
    aspiration: list[float]
    formants: list[tuple[float, float, float]]
    accent: list[float]
    phrase_ends: list[int]


def _score(sentence: Sentence, voice: Voice, rng: np.random.Generator) -> _Tracks:
    """Lay the syllables out in time (frames of 1/CONTROL_RATE s) with their targets."""
    t = _Tracks([], [], [], [], [], [], [])
    neutral = VOWELS["e"]

    def add(
        n: int,
        voiced: float = 0.0,
        bump: float = 0.0,
        bump_hz: float = 0.0,
        asp: float = 0.0,
        formants: tuple[float, float, float] = neutral,
        accent: float = 0.0,
    ) -> None:
        t.voiced += [voiced] * n
        t.bump += [bump] * n
        t.bump_hz += [bump_hz] * n
        t.aspiration += [asp] * n
        t.formants += [formants] * n
        t.accent += [accent] * n

    ms = CONTROL_RATE / 1000.0
    add(int(150 * ms))
    for w, word in enumerate(sentence):
        accent = 1.0 if rng.random() < 0.5 else 0.0
        for s, (cons, vowel) in enumerate(word):
            target = VOWELS[vowel]
            syl = 1000.0 / voice.syllables_per_s * rng.uniform(0.8, 1.25)
            if cons in SONORANTS:
                add(int(60 * ms), voiced=0.45, formants=SONORANTS[cons])
            elif cons in FRICATIVES:
                hz = FRICATIVES[cons]
                add(
                    int(90 * ms),
                    bump=0.0 if hz == 0 else 0.25,
                    bump_hz=hz,
                    asp=0.25 if hz == 0 else 0.0,
                    formants=target,
                )
            elif cons in PLOSIVES:
                add(int(55 * ms))
                add(int(15 * ms), bump=0.6, bump_hz=PLOSIVES[cons], formants=target)
            n = max(int((syl - 70) * ms), int(60 * ms))
            add(n, voiced=1.0 if s == 0 else 0.8, asp=voice.breath, formants=target, accent=accent if s == 0 else 0)
        gap = 300 if (w + 1) % 4 == 0 and w + 1 < len(sentence) else int(rng.uniform(0, 60))
        if gap >= 300:
            t.phrase_ends.append(len(t.voiced))
        add(int(gap * ms))
    add(int(250 * ms))
    t.phrase_ends.append(len(t.voiced))
    return t


def _smooth(x: np.ndarray, frames: int) -> np.ndarray:
    """Moving average along axis 0 (articulators and the larynx do not jump)."""
    if frames <= 1:
        return x
    kernel = np.ones(frames) / frames
    pad = [(frames // 2, frames - 1 - frames // 2)] + [(0, 0)] * (x.ndim - 1)
    padded = np.pad(x, pad, mode="edge")
    return np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 0, padded)


def _f0_contour(t: _Tracks, voice: Voice, rng: np.random.Generator) -> np.ndarray:
    """Declination over each phrase, a rise on accented words, slow drift: Hz per control frame."""
    n = len(t.voiced)
    semitones = np.zeros(n)
    start = 0
    for end in t.phrase_ends:
        semitones[start:end] = np.linspace(0.5, -0.5, end - start) * voice.f0_range_st
        start = end
    semitones += _smooth(np.asarray(t.accent), int(0.12 * CONTROL_RATE)) * voice.f0_range_st * 0.6
    drift = _smooth(rng.standard_normal(n), int(0.3 * CONTROL_RATE)) * 0.8
    return voice.f0_hz * 2.0 ** ((semitones + drift) / 12.0)


def _glottal_source(f0_per_sample: np.ndarray, sr: int) -> np.ndarray:
    """Derivative of a Rosenberg pulse train (open phase 40 %, closing 16 % of each period)."""
    phase = np.cumsum(f0_per_sample / sr) % 1.0
    opening, closing = 0.4, 0.16
    flow = np.where(
        phase < opening,
        0.5 * (1 - np.cos(np.pi * phase / opening)),
        np.where(phase < opening + closing, np.cos(np.pi * (phase - opening) / (2 * closing)), 0.0),
    )
    src = np.diff(flow, prepend=0.0)
    return src / (np.abs(src).max() + 1e-9)


def _resonances(freqs: np.ndarray, formants: np.ndarray, scale: float) -> np.ndarray:
    """|H(f)| of four cascaded second-order resonators per frame: ``[bins, frames]``."""
    f = freqs[:, None]
    gain = np.ones((len(freqs), formants.shape[0]))
    centres = [formants[:, 0], formants[:, 1], formants[:, 2], np.full(formants.shape[0], F4 * scale)]
    for fk, bk in zip(centres, BANDWIDTHS, strict=True):
        fk = fk[None, :]
        gain *= fk**2 / np.sqrt((fk**2 - f**2) ** 2 + (bk * scale * f) ** 2)
    return gain


def synthesize(sentence: Sentence, voice: Voice, sr: int, seed: int) -> np.ndarray:
    """Render one sentence in one voice: float32 mono at ``sr``, peak 0.6."""
    from scipy.signal import istft, stft

    rng = np.random.default_rng(seed)
    tracks = _score(sentence, voice, rng)
    n_ctrl = len(tracks.voiced)
    n = int(n_ctrl * sr / CONTROL_RATE)
    ctrl_t = np.arange(n_ctrl) / CONTROL_RATE
    sample_t = np.arange(n) / sr

    f0 = _f0_contour(tracks, voice, rng)
    f0_samples = np.interp(sample_t, ctrl_t, f0) * (1 + 0.004 * rng.standard_normal(n))  # a little jitter
    voiced = np.interp(sample_t, ctrl_t, _smooth(np.asarray(tracks.voiced), int(0.015 * CONTROL_RATE)))
    source = _glottal_source(f0_samples, sr) * voiced
    noise = rng.standard_normal(n) * 0.15

    nfft, hop = 1024, 256
    freqs, frame_t, z_src = stft(source, sr, nperseg=nfft, noverlap=nfft - hop)
    _, _, z_noise = stft(noise, sr, nperseg=nfft, noverlap=nfft - hop)
    formants = _smooth(np.asarray(tracks.formants), int(0.04 * CONTROL_RATE)) * voice.formant_scale
    formants = np.stack([np.interp(frame_t, ctrl_t, formants[:, k]) for k in range(3)], axis=1)
    envelope = _resonances(freqs, formants, voice.formant_scale)
    envelope /= envelope.max(axis=0, keepdims=True) + 1e-9

    def at_frames(track: list[float], smooth_s: float) -> np.ndarray:
        return np.interp(frame_t, ctrl_t, _smooth(np.asarray(track), max(1, int(smooth_s * CONTROL_RATE))))

    bump_hz = np.maximum(at_frames(tracks.bump_hz, 0.01) * voice.formant_scale, 1.0)
    width = bump_hz[None, :] * 0.35
    bump = np.exp(-0.5 * ((freqs[:, None] - bump_hz[None, :]) / width) ** 2) * at_frames(tracks.bump, 0.01)
    aspiration = envelope * at_frames(tracks.aspiration, 0.015)[None, :]
    _, wav = istft(z_src * envelope + z_noise * (bump + aspiration), sr, nperseg=nfft, noverlap=nfft - hop)
    wav = wav[:n]
    return (wav * (0.6 / (np.abs(wav).max() + 1e-9))).astype(np.float32)
