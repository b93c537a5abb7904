"""Streaming conversion (rvclora.realtime.Stream) against offline conversion, voice switching, control lines.

Equivalence inputs start with silence longer than the offline reflect padding: the NSF sine's phase origin is
then the same for both (no pitch, no phase), so the comparison is of the conversion, not of an arbitrary
phase offset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers_assets import voice_like

from rvclora.errors import ConfigError
from rvclora.infer.chunking import ChunkConfig
from rvclora.infer.converter import Converter
from rvclora.models.noise import without_noise as zero_noise
from rvclora.realtime.control import apply
from rvclora.realtime.settings import DEFAULTS, StreamSettings
from rvclora.realtime.stream import Stream

SMALL = ChunkConfig(x_pad=0.3, x_query=0.3, x_center=10.0, x_max=12.0)  # offline: 0.3 s reflect padding
SILENCE = 0.4  # seconds of silence before the voice (> SMALL.x_pad)


@pytest.fixture(scope="module")
def converter(assets: dict[str, Path]) -> Converter:
    return Converter(lora=assets["a"], chunking=SMALL, device="cpu")


def _signal(seconds: float = 1.0, seed: int = 3) -> np.ndarray:
    return np.concatenate([np.zeros(int(SILENCE * 16000), np.float32), voice_like(seconds, pause=True, seed=seed)])


def _stream_all(stream: Stream, wav: np.ndarray, seed: int = 0) -> np.ndarray:
    """Feed ``wav`` in pieces of random sizes (not block multiples), then flush; drop the stream's delay."""
    sizes = np.random.default_rng(seed).integers(50, 3000, size=wav.shape[0] // 50 + 1)
    out, pos = [], 0
    for n in sizes:
        if pos >= wav.shape[0]:
            break
        out.append(stream.process(wav[pos : pos + n]))
        pos += n
    out.append(stream.flush())
    y = np.concatenate(out)
    return y[int(round(stream.delay * stream.out_sr)) :]


def _snr(test: np.ndarray, ref: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum((test - ref) ** 2), 1e-20)))


def _streamed_vs_offline(converter: Converter, block: float, rms_mix_rate: float) -> float:
    wav = _signal()
    settings = StreamSettings(block, DEFAULTS.context, DEFAULTS.lookahead, DEFAULTS.crossfade)
    with zero_noise():
        offline, sr = converter.convert(wav, 16000, rms_mix_rate=rms_mix_rate)
        streamed = _stream_all(Stream(converter, 16000, out_sr=sr, settings=settings, rms_mix_rate=rms_mix_rate), wav)
    assert streamed.shape == offline.shape
    voiced = slice(int((SILENCE + 0.05) * sr), None)
    assert np.abs(offline[voiced]).max() > 0.05  # a real signal is compared, not two silences
    snr = _snr(streamed[voiced], offline[voiced])
    print(f"block {block}s rms_mix_rate {rms_mix_rate}: streamed vs offline SNR {snr:.1f} dB")
    return snr


@pytest.mark.slow
@pytest.mark.parametrize("block", [0.1, 0.25, 0.5])
def test_stream_matches_offline(converter: Converter, block: float) -> None:
    """Streamed in blocks of any size == offline infer on the whole input (RMS mix off), seams included."""
    # measured (tiny v2 40k, dio, default context/lookahead/crossfade): 48-67 dB
    assert _streamed_vs_offline(converter, block, rms_mix_rate=1.0) >= 40.0


@pytest.mark.slow
def test_stream_rms_mix_differs_by_design(converter: Converter) -> None:
    """With RMS mix on, offline loudness windows are 1 s and centred (half a second of future); a stream's end
    at its window's edge. Measured 25-32 dB for blocks of 0.1-0.5 s (docs/realtime.md)."""
    assert _streamed_vs_offline(converter, 0.25, rms_mix_rate=0.25) >= 20.0


@pytest.mark.slow
def test_seams_do_not_step(converter: Converter) -> None:
    wav = _signal(1.2, seed=4)
    with zero_noise():
        offline, sr = converter.convert(wav, 16000, rms_mix_rate=1.0)
        streamed = _stream_all(Stream(converter, 16000, out_sr=sr, rms_mix_rate=1.0), wav)
    own_step = np.abs(np.diff(offline)).max()
    block = int(DEFAULTS.block * sr)
    shift = int(round((DEFAULTS.lookahead + DEFAULTS.crossfade) * sr))
    for seam in range(block - shift, streamed.shape[0] - 20, block):
        if seam > 20:
            assert np.abs(np.diff(streamed[seam - 20 : seam + 20])).max() <= 1.05 * own_step


def test_input_rate_and_output_rate(converter: Converter) -> None:
    """48 kHz in, 48 kHz out: whole blocks at the output rate, a converted voice, finite and in range."""
    wav48 = np.concatenate([np.zeros(4800, np.float32), voice_like(0.8, sr=48000)])
    stream = Stream(converter, 48000)
    first = stream.process(wav48[:12000])
    assert first.shape == (12000,)  # one 0.25 s block in, one out (at 48 kHz)
    rest = np.concatenate([stream.process(wav48[12000:]), stream.flush()])
    total = first.shape[0] + rest.shape[0]
    assert total == wav48.shape[0] + int(round(stream.delay * 48000))
    assert np.isfinite(rest).all() and 0.02 < np.abs(rest).max() <= 1.0


@pytest.mark.slow
def test_voice_switch_takes_effect_at_next_block_with_exact_blend(
    converter: Converter, assets: dict[str, Path]
) -> None:
    """Switch A → blend(A: 0, B: 1): after the switch block the output is B's (the exact merged weights)."""
    wav = _signal(1.4, seed=5)
    only_b = Converter(lora=assets["b"], chunking=SMALL, device="cpu", hubert=assets["hubert"], f0_method="dio")
    blk = int(DEFAULTS.block * 16000)
    with zero_noise():
        # RMS mix off: with it, the loudness envelope of the window still holds the old voice's past frames
        a_out = _stream_all(Stream(converter, 16000, index_rate=0.0, rms_mix_rate=1.0), wav)
        b_out = _stream_all(Stream(only_b, 16000, index_rate=0.0, rms_mix_rate=1.0), wav)
        stream = Stream(converter, 16000, index_rate=0.0, rms_mix_rate=1.0)
        head = stream.process(wav[: 4 * blk])
        voice = stream.load_voice([assets["a"], assets["b"]], [0.0, 1.0])
        assert stream.voice is converter.voices[0]  # not before the next block
        tail = np.concatenate([stream.process(wav[4 * blk :]), stream.flush()])
    assert stream.voice is voice and any("lora_A" in k for k in voice.model.state_dict())  # a blend, unmerged
    switched = np.concatenate([head, tail])[int(round(stream.delay * 16000)) :]
    s = 4 * blk - int(round(stream.delay * 16000))  # first switched sample on the output timeline
    x = int(DEFAULTS.crossfade * 16000)
    np.testing.assert_allclose(switched[:s], a_out[:s], atol=1e-6)
    print("switched vs B only: max difference", np.abs(switched[s + x :] - b_out[s + x :]).max())
    np.testing.assert_allclose(switched[s + x :], b_out[s + x :], atol=2e-4)
    assert np.abs(a_out[s + x :] - b_out[s + x :]).max() > 1e-2  # the voices really differ
    fade = switched[s : s + x]  # in between: a crossfade, not a jump
    assert np.abs(np.diff(fade)).max() <= 1.05 * max(np.abs(np.diff(a_out)).max(), np.abs(np.diff(b_out)).max())


def test_control_lines(converter: Converter) -> None:
    stream = Stream(converter, 16000)
    assert apply("pitch 3", stream).ok and stream.requested_options.pitch == 3
    assert apply("up 2", stream).ok and stream.requested_options.pitch == 5
    assert apply("down", stream).ok and stream.requested_options.pitch == 4
    assert stream.options.pitch == 0  # takes effect at the next block
    stream.process(voice_like(0.25))
    assert stream.options.pitch == 4
    assert apply("index-rate 0.5", stream).ok and stream.requested_options.index_rate == 0.5
    bad = apply("protect 9", stream)
    assert not bad.ok and "protect" in bad.message
    assert not apply("dance", stream).ok


def test_adapter_that_fails_to_load_keeps_the_voice(converter: Converter, assets: dict[str, Path]) -> None:
    stream = Stream(converter, 16000)
    before = stream.voice
    broken = assets["root"] / "broken.safetensors"
    broken.write_bytes(b"not an adapter")
    for line in (f"voice {assets['root'] / 'missing.safetensors'}", f"voice {broken}"):
        outcome = apply(line, stream)
        assert not outcome.ok and outcome.message
    stream.process(voice_like(0.3))
    assert stream.voice is before


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="0.01"):
        StreamSettings(block=0.123)
    with pytest.raises(ConfigError, match="crossfade"):
        StreamSettings(block=0.1, crossfade=0.1)
    with pytest.raises(ConfigError, match="--pitch-context must be"):
        StreamSettings(pitch_context=0.255)
    assert DEFAULTS.latency == pytest.approx(DEFAULTS.block + DEFAULTS.lookahead + DEFAULTS.crossfade)


@pytest.mark.slow
def test_stream_refuses_what_it_cannot_do(converter: Converter, assets: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="100 Hz"):
        Stream(converter, 22050)
    each = Converter(lora=[assets["a"], assets["b"]], each=True, chunking=SMALL, device="cpu", hubert=assets["hubert"])
    with pytest.raises(ConfigError, match="one voice"):
        Stream(each, 16000)
    eager = Converter(lora=assets["a"], chunking=SMALL, device="cpu", fast=False)
    with pytest.raises(ConfigError, match="fast"):
        Stream(eager, 16000)


def test_pitch_sees_only_its_context(converter: Converter) -> None:
    """The estimator runs on pitch_context + block + lookahead, not the whole window; with dio the result is
    what the whole window gives (measured: the same SNR against offline from 0.1 s of pitch context on)."""
    wav = _signal(1.0)
    outputs = []
    for pitch_context in (0.2, DEFAULTS.context):
        settings = StreamSettings(0.25, DEFAULTS.context, DEFAULTS.lookahead, DEFAULTS.crossfade, pitch_context)
        stream = Stream(converter, 16000, settings=settings, rms_mix_rate=1.0)
        seen: list[int] = []
        estimate = stream._f0.estimate  # type: ignore[union-attr]
        stream._f0.estimate = lambda x, estimate=estimate, seen=seen: seen.append(len(x)) or estimate(x)  # type: ignore[union-attr]
        with zero_noise():
            outputs.append(_stream_all(stream, wav))
        frames = min(int(round((pitch_context + 0.25 + DEFAULTS.lookahead) * 100)), stream._window - 1)
        assert set(seen) <= {frames * 160, (frames + 1) * 160} and seen  # the window's even start: one frame more
    assert _snr(outputs[0], outputs[1]) >= 60.0


def test_warm_up_leaves_the_stream_as_new(converter: Converter) -> None:
    """stream and live warm a stream up before the first real block; afterwards it is as if new: the same
    output as a stream that never ran, and no blocks counted."""
    wav = _signal(0.6)
    with zero_noise():
        fresh = _stream_all(Stream(converter, 16000, rms_mix_rate=1.0), wav)
        warmed = Stream(converter, 16000, rms_mix_rate=1.0)
        warmed.warm_up()
        assert warmed.stats.blocks == 0 and warmed.stats.late == 0
        np.testing.assert_allclose(_stream_all(warmed, wav), fresh, rtol=0, atol=1e-6)
