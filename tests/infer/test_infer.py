"""Conversion pipeline and Python API: merged == unmerged adapter, chunking without seams, blends, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_assets import voice_like

from rvclora.errors import BadInputError, ConfigError, IncompatibleError
from rvclora.infer.chunking import ChunkConfig, find_cuts, plan_pieces
from rvclora.infer.converter import Converter
from rvclora.infer.options import ConvertOptions
from rvclora.infer.pipeline import stitch, synthesize
from rvclora.infer.voices import Voice, finish
from rvclora.models.noise import without_noise as zero_noise

SMALL = ChunkConfig(x_pad=0.3, x_query=0.3, x_center=10.0, x_max=12.0)  # short context, never chunks


@pytest.fixture(scope="module")
def converter(assets: dict[str, Path]) -> Converter:
    return Converter(lora=assets["a"], chunking=SMALL, device="cpu")


def test_assets_come_from_the_adapter_workspace(converter: Converter, assets: dict[str, Path]) -> None:
    voice = converter.voices[0]
    assert converter.f0_method == "dio"  # from the workspace's rvclora.yaml, no flag given
    assert voice.index_name is not None and voice.index_name.startswith("added_")
    assert voice.sources[0] == str(assets["base"])  # base found through the adapter's metadata
    assert not any("lora" in k for k in voice.model.state_dict())  # a single adapter is merged at load


@pytest.mark.slow
def test_unmerged_adapter_equals_merged(converter: Converter, assets: dict[str, Path]) -> None:
    from rvclora.lora.adapter import load_lora
    from rvclora.models.checkpoint import load_synthesizer

    wav = voice_like(1.0)
    merged = converter.voices[0]
    plain = load_synthesizer(assets["base"])
    unmerged_model = load_synthesizer(assets["base"])
    load_lora(unmerged_model, assets["a"])
    assert any("lora_A" in k for k in unmerged_model.state_dict())
    options = ConvertOptions(index_rate=0.0)
    with zero_noise():
        analysis = converter.analyze(wav, 16000, options)
        out_merged, sr, _ = synthesize(analysis, merged, options)
        out_unmerged, _, _ = synthesize(
            analysis, Voice("u", finish(unmerged_model, "cpu", torch.float32), "cpu", torch.float32), options
        )
        out_plain, _, _ = synthesize(
            analysis, Voice("p", finish(plain, "cpu", torch.float32), "cpu", torch.float32), options
        )
    np.testing.assert_allclose(out_unmerged, out_merged, atol=1e-4)
    assert np.abs(out_plain - out_merged).max() > 1e-2  # the adapter really changes the voice
    assert sr == 40000 and abs(out_merged.shape[0] - wav.shape[0] * sr // 16000) <= sr // 100


def test_resample_and_length(converter: Converter) -> None:
    wav = voice_like(0.8, sr=22050)
    out, sr = converter.convert(wav, 22050, resample_sr=16000, rms_mix_rate=0.0)
    assert sr == 16000 and abs(out.shape[0] - 0.8 * 16000) <= 160
    assert np.isfinite(out).all() and 0 < np.abs(out).max() <= 0.99 + 1e-6


@pytest.mark.slow
def test_chunked_equals_unchunked_away_from_seams(converter: Converter) -> None:
    wav = voice_like(2.6, pause=True, seed=3)
    options = ConvertOptions(index_rate=0.0, rms_mix_rate=1.0)
    voice = converter.voices[0]
    with zero_noise():
        converter.chunking = ChunkConfig(x_pad=0.3, x_query=0.3, x_center=1.0, x_max=1.2, crossfade=0.02)
        chunked = converter.analyze(wav, 16000, options)
        converter.chunking = SMALL
        whole = converter.analyze(wav, 16000, options)
        out_c, sr, _ = synthesize(chunked, voice, options)
        out_w, _, _ = synthesize(whole, voice, options)
    assert len(chunked.pieces) >= 2 and len(whole.pieces) == 1
    assert out_c.shape == out_w.shape
    hop = sr // 100
    seams = [(p.frame1 - 2 * chunked.cfg.pad_frames) * hop for p in chunked.pieces[:-1]]
    away = np.ones(out_w.shape[0], bool)
    for s in seams:
        away[max(s - sr // 5, 0) : s + sr // 5] = False
    diff = np.abs(out_c - out_w)
    # Attention sees a shorter context per piece, so "equal" means within 2 % of the peak.
    assert diff[away].max() < 0.02 * np.abs(out_w).max()
    own_step = np.abs(np.diff(out_w)).max()
    for s in seams:
        assert np.abs(np.diff(out_c[s - 20 : s + 20])).max() <= own_step


def test_cut_points_are_quiet_and_pieces_tile() -> None:
    cfg = ChunkConfig(x_pad=0.3, x_query=0.3, x_center=1.0, x_max=1.2)
    wav = voice_like(2.4, seed=4)
    wav[15000:15400] = 0.0  # a silent spot near the first centre (16000)
    cuts = find_cuts(wav, cfg)
    assert len(cuts) == 2 and 15000 <= cuts[0] < 15400
    pieces = plan_pieces(wav.shape[0], cuts, cfg)
    covered = sum(p.frame1 - p.frame0 - (2 * cfg.pad_frames if p.last else 2 * cfg.pad_frames) for p in pieces)
    assert covered == wav.shape[0] // 160  # every 10 ms frame converted exactly once


def test_stitch_crossfades_overlap() -> None:
    a, b = np.ones(10, np.float32), np.zeros(8, np.float32)
    out = stitch([a, b], fade=4)
    assert out.shape == (14,) and out[0] == 1 and out[-1] == 0
    assert np.all(np.diff(out[5:10]) < 0)  # a ramp, not a step


@pytest.mark.slow
def test_blend_with_all_weight_on_one_equals_that_adapter(converter: Converter, assets: dict[str, Path]) -> None:
    blend = Converter(lora=[assets["a"], assets["b"]], weights=[1.0, 0.0], chunking=SMALL, device="cpu", index_rate=0.0)
    assert any("lora_A" in k for k in blend.voices[0].model.state_dict())  # several adapters: unmerged
    wav = voice_like(0.6, seed=5)
    with zero_noise():
        analysis = converter.analyze(wav, 16000)
        single, _, _ = synthesize(analysis, converter.voices[0], ConvertOptions(index_rate=0.0))
        blended, _, _ = synthesize(analysis, blend.voices[0], ConvertOptions(index_rate=0.0))
    np.testing.assert_allclose(blended, single, atol=1e-4)


@pytest.mark.slow
def test_convert_many_shares_analysis(assets: dict[str, Path]) -> None:
    conv = Converter(lora=[assets["a"], assets["b"]], each=True, chunking=SMALL, device="cpu", hubert=assets["hubert"])
    results = conv.convert_many(voice_like(0.5), 16000)
    assert [r.voice for r in results] == ["a", "b"]
    assert results[0].index is not None and results[1].index is None  # only a has a workspace
    assert not np.allclose(results[0].audio, results[1].audio)
    with pytest.raises(ConfigError, match="convert_many"):
        conv.convert(voice_like(0.5), 16000)


@pytest.mark.slow
def test_bad_inputs_raise_user_errors(converter: Converter, assets: dict[str, Path]) -> None:
    with pytest.raises(BadInputError, match="silent"):
        converter.convert(np.zeros(16000, np.float32), 16000)
    with pytest.raises(BadInputError, match="no samples"):
        converter.convert(np.zeros(0, np.float32), 16000)
    with pytest.raises(BadInputError, match="NaN"):
        converter.convert(np.full(1600, np.nan, np.float32), 16000)
    with pytest.raises(IncompatibleError, match="another base"):
        Converter(lora=assets["a"], base=assets["v1base"], device="cpu")
    wrong = assets["root"] / "v1.index"
    from rvclora.features.index import build_index

    build_index(np.random.default_rng(0).standard_normal((400, 256)).astype(np.float32), wrong)
    with pytest.raises(IncompatibleError, match="256"):
        Converter(lora=assets["a"], index=wrong, device="cpu")
    with pytest.raises(ConfigError, match="speaker id"):
        converter.convert(voice_like(0.3), 16000, speaker_id=99)
    with pytest.raises(ConfigError, match="protect"):
        converter.convert(voice_like(0.3), 16000, protect=0.9)


def test_each_gives_colliding_adapter_names_distinct_voices() -> None:
    """--each with alice/adapters/voice.safetensors and bob/adapters/voice.safetensors: no output overwrites another."""
    from rvclora.infer.voices import voice_names

    paths = [Path("alice/adapters/voice.safetensors"), Path("bob/adapters/voice.safetensors"), Path("x/solo.pth")]
    assert voice_names(paths, None, each=True) == ["voice", "voice-2", "solo"]
    assert voice_names(paths[:2], None, each=False) == ["voice+voice"]
    assert voice_names([], Path("m/rvc.pth"), each=False) == ["rvc"]
