"""Long inputs piece by piece: same numbers as the in-memory pipeline, bounded memory, seeded reproducibility."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import soundfile as sf
from helpers_assets import voice_like

from rvclora.infer import dsp
from rvclora.infer.chunking import ChunkConfig, find_cuts, find_cuts_in
from rvclora.infer.longform import convert_pieces
from rvclora.infer.options import ConvertOptions
from rvclora.infer.outputs import OutputTarget
from rvclora.infer.source import prepare_input, source_rms_frames
from rvclora.infer.spool import Spool
from rvclora.models.noise import without_noise

if TYPE_CHECKING:
    from rvclora.infer.converter import Converter

SMALL = ChunkConfig(x_pad=0.3, x_query=0.3, x_center=10.0, x_max=12.0)  # never cuts short test inputs
TINY_PIECES = ChunkConfig(x_pad=0.3, x_query=0.3, x_center=1.0, x_max=1.2)  # a piece per second


@pytest.fixture(scope="module")
def converter(assets: dict[str, Path]) -> Converter:
    from rvclora.infer.converter import Converter

    return Converter(lora=assets["a"], chunking=TINY_PIECES, device="cpu")


def _write(path: Path, seconds: float, sr: int = 22050, seed: int = 3) -> Path:
    sf.write(path, voice_like(seconds, sr=sr, pause=True, seed=seed), sr, subtype="FLOAT")
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "cfg, seconds, overrides",
    [
        (SMALL, 1.2, {}),
        (TINY_PIECES, 2.6, {"resample_sr": 44100, "rms_mix_rate": 0.5}),
    ],
)
def test_piecewise_file_conversion_equals_in_memory(
    converter: Converter, tmp_path: Path, cfg: ChunkConfig, seconds: float, overrides: dict
) -> None:
    from rvclora.audio.io import load_audio

    conv = converter
    conv.chunking = cfg
    src = _write(tmp_path / "in.wav", seconds)
    with without_noise():
        audio, sr = load_audio(src)
        expected, expected_sr = conv.convert(audio, sr, **overrides)
        result = conv.convert_file(src, tmp_path / "out.wav", subtype="FLOAT", **overrides)
    conv.chunking = TINY_PIECES
    got, got_sr = sf.read(tmp_path / "out.wav", dtype="float32")
    assert result.audio is None and got_sr == expected_sr == result.sr
    assert got.shape == expected.shape
    # Same pieces, same pitch frames: only the loudness envelope's float sums differ.
    np.testing.assert_allclose(got, expected, atol=2e-6)


@pytest.mark.slow
def test_same_seed_gives_identical_output_other_seed_differs(converter: Converter, tmp_path: Path) -> None:
    conv = converter
    src = _write(tmp_path / "in.wav", 1.6, sr=16000, seed=4)
    wav = sf.read(src, dtype="float32")[0]
    first, _ = conv.convert(wav, 16000, seed=7)
    again, _ = conv.convert(wav, 16000, seed=7)
    other, _ = conv.convert(wav, 16000, seed=8)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1e-4  # the noise is really there and really seeded
    conv.convert_file(src, tmp_path / "a.wav", subtype="FLOAT", seed=7)
    # the file path draws each piece's noise from the same seed (only the loudness sums round differently)
    np.testing.assert_allclose(sf.read(tmp_path / "a.wav", dtype="float32")[0], first, atol=2e-6)


def test_streamed_highpass_and_rms_equal_the_whole_input(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    stereo = (rng.standard_normal((44100 * 3, 2)) * 0.7).astype(np.float32)  # peaks above 0.95: guard scales
    sf.write(tmp_path / "x.wav", stereo, 44100, subtype="FLOAT")
    prepared = prepare_input(tmp_path / "x.wav", tmp_path, block=5000)
    from rvclora.audio.io import load_audio, resample

    audio, sr = load_audio(tmp_path / "x.wav")
    whole = dsp.highpass_48hz(dsp.peak_guard(resample(audio, sr, 16000)))
    np.testing.assert_array_equal(prepared.signal.load(), whole)
    np.testing.assert_allclose(source_rms_frames(prepared.signal), dsp._rms(whole, 16000, 8000), rtol=1e-9)
    prepared.close()


def test_windowed_cuts_equal_whole_input_cuts(tmp_path: Path) -> None:
    wav = voice_like(9.0, seed=5)
    wav[30000:30500] = 0.0
    with Spool(tmp_path / "s.f32") as spool:
        spool.append(wav)
        assert find_cuts_in(spool.read_reflect, spool.n, TINY_PIECES) == find_cuts(wav, TINY_PIECES)
        np.testing.assert_array_equal(spool.read_reflect(-500, 700), np.pad(wav, 500, mode="reflect")[:1200])


class _Recorder:
    """Fake content encoder, pitch estimator and voice that record the most samples any call was given."""

    def __init__(self, sinks: dict) -> None:
        self.most = 0
        self.sinks = sinks
        self.written_before_end = False
        self.calls = 0

    def extract(self, wav: np.ndarray, version: str) -> np.ndarray:
        self.most = max(self.most, wav.shape[0])
        self.calls += 1
        if self.calls > 3 and any(s.spool.n > 0 for s in self.sinks.values()):
            self.written_before_end = True  # output already on disk while input is still being read
        return np.ones((wav.shape[0] // 320, 768), np.float32)

    def estimate(self, wav: np.ndarray) -> np.ndarray:
        self.most = max(self.most, wav.shape[0])
        return np.full(wav.shape[0] // 160 + 1, 150.0, np.float32)


class _FakeVoice:
    name, version, f0, sr, retrievers, unvoiced_f0 = "v", "v2", True, 40000, [], "zero"

    def generate(self, feats: np.ndarray, coarse: np.ndarray, hz: np.ndarray, speaker_id: int = 0) -> np.ndarray:
        t = np.arange(feats.shape[0] * 400) / 40000
        return (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _run_fake(tmp_path: Path, seconds: float) -> tuple[_Recorder, int, Path]:
    src = _write(tmp_path / f"in{seconds}.wav", seconds, sr=16000)
    work = tmp_path / f"w{seconds}"
    work.mkdir()
    prepared = prepare_input(src, work)
    import rvclora.infer.longform as longform

    sinks: dict = {}
    real_sink = longform.OutputSink

    def keep(*args: object, **kwargs: object) -> object:
        sink = real_sink(*args, **kwargs)
        sinks[len(sinks)] = sink
        return sink

    recorder = _Recorder(sinks)
    longform.OutputSink = keep  # type: ignore[assignment,misc]
    try:
        tracemalloc.start()
        out = tmp_path / f"out{seconds}.wav"
        made, _ = convert_pieces(
            prepared, [_FakeVoice()], recorder, recorder, TINY_PIECES, ConvertOptions(), {"v": OutputTarget(out)}, work
        )
        made["v"].write()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        longform.OutputSink = real_sink  # type: ignore[misc]
    made["v"].close()
    prepared.close()
    return recorder, peak, out


@pytest.mark.slow
def test_long_inputs_are_processed_piece_by_piece_in_bounded_memory(tmp_path: Path) -> None:
    short, peak_short, _ = _run_fake(tmp_path, 8.0)
    long, peak_long, out = _run_fake(tmp_path, 40.0)
    cfg = TINY_PIECES  # a piece spans at most the gap between two cuts plus its context, and the F0 context
    bound = int(16000 * (cfg.x_center + 2 * cfg.x_query + 2 * cfg.x_pad + 2 * 1.0)) + 2 * 160
    assert short.most <= bound and long.most <= bound  # no call ever saw the whole 40 s input
    assert long.written_before_end  # output is spooled while later pieces are still being analysed
    assert peak_long < 1.3 * peak_short  # 5x the input, about the same numpy memory
    assert sf.info(out).frames == 40 * 40000


def test_stitcher_streams_what_stitch_joins() -> None:
    from rvclora.infer.pipeline import Stitcher, stitch

    rng = np.random.default_rng(1)
    parts = [rng.standard_normal(n).astype(np.float32) for n in (50, 40, 30)]
    joiner = Stitcher(8)
    streamed = np.concatenate([joiner.push(p, i == 2) for i, p in enumerate(parts)])
    np.testing.assert_array_equal(streamed, stitch(parts, 8))
    assert streamed.shape == (50 + 40 + 30 - 16,)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dio", "harvest"])
def test_per_piece_f0_with_context_equals_whole_input_f0(method: str) -> None:
    """RVC estimates F0 over the whole input; a piece plus F0_CONTEXT on each side gives the same frames."""
    from rvclora.features.f0 import load_f0_estimator
    from rvclora.infer.longform import F0_CONTEXT

    estimator = load_f0_estimator(method)
    wav = voice_like(6.0, seed=6, pause=True)
    whole = estimator.estimate(wav)
    ctx = int(F0_CONTEXT * 16000)
    lo, hi = 2 * 16000, 4 * 16000
    local = estimator.estimate(wav[lo - ctx : hi + ctx])
    n = (hi - lo) // 160
    np.testing.assert_array_equal(local[ctx // 160 : ctx // 160 + n], whole[lo // 160 : lo // 160 + n])
    assert (whole[lo // 160 : hi // 160] > 0).mean() > 0.5  # a voiced stretch, not trivially equal zeros
