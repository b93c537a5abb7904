"""Decoder backends (rvclora.infer.backends): the choice (auto, forced, missing extra) and the onnx backend's
equivalence to the torch tiles on every reference model, through the Converter, and its export cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_assets import run_cli, voice_like
from models_helpers import MODELS, fast_infer_on, zero_noise

from rvclora.errors import ConfigError, MissingExtraError
from rvclora.infer import backends
from rvclora.infer.converter import Converter
from rvclora.infer.fast import decode, prepare_fast
from rvclora.lora.config import LoRAConfig
from rvclora.lora.inject import add_lora
from rvclora.models.checkpoint import load_synthesizer
from rvclora.models.generator import GeneratorNSF

#: onnxruntime vs torch on the same weights: float rounding of differently ordered sums (measured ~4e-7 at
#: full size, ~1e-7 on the tiny models)
ATOL_BACKEND = 1e-5


@pytest.mark.parametrize(
    ("requested", "device", "dtype", "fast", "installed", "mkldnn", "want"),
    [
        ("auto", "cpu", "float32", True, True, True, "onednn"),  # nothing to export: first even with onnx
        ("auto", "cpu", "float32", True, False, True, "onednn"),
        ("auto", "cpu", "float32", True, True, False, "onnx"),  # a torch without oneDNN: onnx if installed
        ("auto", "cpu", "float32", True, False, False, "torch"),
        ("auto", "cuda", "float16", True, True, True, "torch"),
        ("auto", "cpu", "bfloat16", True, True, True, "torch"),
        ("auto", "cpu", "float32", False, True, True, "torch"),  # --eager: the reference path, no backend
        ("torch", "cpu", "float32", True, True, True, "torch"),  # the force flag
        ("TORCH", "cpu", "float32", True, True, True, "torch"),
        ("onnx", "cpu", "float32", True, True, True, "onnx"),
    ],
)
def test_resolve_backend(
    monkeypatch: pytest.MonkeyPatch,
    requested: str,
    device: str,
    dtype: str,
    fast: bool,
    installed: bool,
    mkldnn: bool,
    want: str,
) -> None:
    monkeypatch.setattr(backends, "onnx_available", lambda: installed)
    monkeypatch.setattr(backends, "onednn_available", lambda: mkldnn)
    assert backends.resolve_backend(requested, device, dtype, fast) == want


def test_resolve_backend_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "onnx_available", lambda: False)
    with pytest.raises(MissingExtraError, match="onnxruntime") as info:
        backends.resolve_backend("onnx", "cpu", "float32", True)
    assert "pip install 'rvclora[onnx]'" in str(info.value)
    monkeypatch.setattr(backends, "onnx_available", lambda: True)
    with pytest.raises(ConfigError, match="fp32 only"):
        backends.resolve_backend("onnx", "cuda", "float16", True)
    with pytest.raises(ConfigError, match="fast path"):
        backends.resolve_backend("onnx", "cpu", "float32", False)
    with pytest.raises(ConfigError, match="unknown backend"):
        backends.resolve_backend("tensorrt", "cpu", "float32", True)


@pytest.mark.slow
def test_cli_missing_extra_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], voices: dict[str, Path], tmp_path: Path
) -> None:
    import soundfile as sf

    monkeypatch.setattr(backends, "onnx_available", lambda: False)
    wav = tmp_path / "in.wav"
    sf.write(wav, voice_like(0.5), 16000)
    common = ["--lora", str(voices["a"]), "--base", str(voices["base"]), "--hubert", str(voices["hubert"])]
    code, _, err = run_cli(capsys, "infer", str(wav), "-o", str(tmp_path / "out.wav"), *common, "--backend", "onnx")
    assert code == 2, err
    assert "pip install 'rvclora[onnx]'" in err and "Traceback" not in err
    assert not (tmp_path / "out.wav").exists()
    code, _, err = run_cli(capsys, "infer", str(wav), "-o", str(tmp_path / "out.wav"), *common, "--backend", "torch")
    assert code == 0, err  # the force flag needs nothing extra


def _wide_decoder(seed: int) -> GeneratorNSF:
    """A small NSF decoder whose channels (64, 32, 16) are multiples of onnxruntime's NCHWc block (8 with AVX2,
    16 with AVX-512), so the blocked convolution kernels really run; weights folded, as the fast path has them."""
    torch.manual_seed(seed)
    dec = GeneratorNSF(12, "1", [3, 5], [[1, 3], [1, 3]], [4, 4], 64, [8, 8], gin_channels=8, sr=16000)
    return prepare_fast(dec.eval())


def _tile_inputs(dec: GeneratorNSF, frames: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(frames)
    x = torch.randn(1, dec.conv_pre.in_channels, frames, generator=gen)
    har = 0.1 * torch.randn(1, 1, frames * dec.upp, generator=gen)
    return x, har, torch.randn(1, dec.cond.in_channels, 1, generator=gen)


def test_as_2d_twin_decodes_the_same() -> None:
    """The 2-D twin (what the onnx export traces) gives the 1-D decoder's audio, a blend's unmerged adapter
    included (merged into one weight there); the decoder itself is left as it was."""
    from rvclora.infer.backends.onnx_decoder import as_2d
    from rvclora.infer.fast import _decode_tile

    dec = _wide_decoder(0)
    holder = torch.nn.Module()
    holder.dec = dec  # the targets are synthesizer paths
    add_lora(
        holder, LoRAConfig(rank=2, alpha=2.0, targets=["dec.ups.*", "dec.resblocks.*"], full_modules=[])
    )  # unmerged: a blend
    with torch.no_grad():
        for name, p in dec.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.05)
    before = {k: v.clone() for k, v in dec.state_dict().items()}
    twin = as_2d(dec)
    assert not [m for m in twin.modules() if isinstance(m, torch.nn.Conv1d | torch.nn.ConvTranspose1d)]
    x, har, g = _tile_inputs(dec, 23)
    with torch.inference_mode():
        want = _decode_tile(dec, x.clone(), har, g)
        got = _decode_tile(twin, x.unsqueeze(2), har.unsqueeze(2), g.unsqueeze(2)).squeeze(2)
    assert float(want.abs().max()) > 1e-2
    assert float((got - want).abs().max()) <= ATOL_BACKEND
    assert all(torch.equal(v, dec.state_dict()[k]) for k, v in before.items())


needs_onnx = pytest.mark.skipif(not backends.onnx_available(), reason="the onnx extra is not installed")


@pytest.mark.slow
@needs_onnx
@pytest.mark.parametrize("name", MODELS)
def test_onnx_tiles_match_torch(reference_dir: Path, name: str) -> None:
    """Every reference model (f0/no-f0, 40k/48k/32k), tiled and untiled, with real noise: same audio."""
    model, runner, want, got = fast_infer_on(reference_dir, name, "onnx")
    assert float(want.abs().max()) > 1e-3
    assert float((got - want).abs().max()) <= ATOL_BACKEND
    # tiles of several lengths (a shorter last one) on the one exported graph
    x = torch.randn(1, model.dec.conv_pre.in_channels, 37)
    f0 = torch.full((1, 37), 150.0) if model.dec.has_source else None
    g = torch.randn(1, model.dec.cond.in_channels, 1)
    tiled = []
    for run in (None, runner):
        torch.manual_seed(6)
        with torch.inference_mode():
            tiled.append(decode(model.dec, x.clone(), f0, g, tile=10, runner=run))
    assert float((tiled[1] - tiled[0]).abs().max()) <= ATOL_BACKEND


@needs_onnx
def test_onnx_export_is_2d_and_matches_torch() -> None:
    """The exported tile graph has only 2-D convolutions (what onnxruntime's NCHWc kernels take) and gives the
    torch tiles' audio on a decoder wide enough for those kernels, for tiles of several lengths."""
    import onnx

    from rvclora.infer.backends import onnx_decoder

    dec = _wide_decoder(1)
    runner = onnx_decoder.OnnxTileDecoder.load(dec)
    graph = onnx.load(str(runner.path)).graph
    weights = {t.name: len(t.dims) for t in graph.initializer}
    convs = [n for n in graph.node if n.op_type in ("Conv", "ConvTranspose")]
    assert len(convs) == sum(isinstance(m, torch.nn.Conv1d | torch.nn.ConvTranspose1d) for m in dec.modules())
    assert all(weights[n.input[1]] == 4 for n in convs)
    for frames in (5, 40):
        x, har, g = _tile_inputs(dec, frames)
        with torch.inference_mode():
            want = _decode_tile_torch(dec, x, har, g)
        got = runner(x, har, g)
        assert got.shape == want.shape and float(want.abs().max()) > 1e-2
        assert float((got - want).abs().max()) <= ATOL_BACKEND


def _decode_tile_torch(dec: GeneratorNSF, x: torch.Tensor, har: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    from rvclora.infer.fast import _decode_tile

    return _decode_tile(dec, x.clone(), har, g)


def test_export_version_is_in_the_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed export format (EXPORT_VERSION) never reuses a file written by the old one."""
    from rvclora.infer.backends import onnx_decoder

    dec = _wide_decoder(2)
    now = onnx_decoder.fingerprint(dec)
    monkeypatch.setattr(onnx_decoder, "EXPORT_VERSION", onnx_decoder.EXPORT_VERSION - 1)
    assert onnx_decoder.fingerprint(dec) != now


@needs_onnx
def test_export_is_cached_per_weights(reference_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rvclora.infer.backends import onnx_decoder

    model = prepare_fast(load_synthesizer(reference_dir / "v2_40k_f0_tiny.pth").eval())
    first = onnx_decoder.OnnxTileDecoder.load(model.dec)
    assert first.path.parent == onnx_decoder.cache_dir() and first.path.is_file()
    assert not [p for p in first.path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left

    def no_export(*_: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_decoder, "export", no_export)
    assert onnx_decoder.OnnxTileDecoder.load(model.dec).path == first.path  # same weights: the cached file
    with torch.no_grad():
        model.dec.conv_post.weight.add_(1e-3)  # other weights (another adapter or blend): another file
    assert onnx_decoder.fingerprint(model.dec) not in first.path.name


@pytest.mark.slow
@pytest.mark.parametrize(("requested", "backend"), [("auto", "onednn"), pytest.param("onnx", "onnx", marks=needs_onnx)])
def test_converter_backends_agree_on_a_blend(voices: dict[str, Path], requested: str, backend: str) -> None:
    """A backend's voice is the same merged blend as the torch one: the same audio. auto picks onednn on CPU
    fp32, whether or not onnxruntime is installed."""
    kwargs = dict(
        lora=[voices["a"], voices["b"]],
        weights=[0.7, 0.3],
        base=voices["base"],
        hubert=voices["hubert"],
        f0_method="dio",
        device="cpu",
    )
    voice, forced = Converter(backend=requested, **kwargs), Converter(backend="torch", **kwargs)
    assert voice.voices[0].backend == backend and voice.voices[0].tile_runner is not None
    assert forced.voices[0].backend == "torch" and forced.voices[0].tile_runner is None
    wav = voice_like(1.5, seed=4, pause=True)
    with zero_noise():
        got, sr = voice.convert(wav, 16000, index_rate=0.0)
        want, _ = forced.convert(wav, 16000, index_rate=0.0)
    assert np.abs(want).max() > 1e-2
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize(("backend", "fast"), [("auto", True), ("torch", True), ("TORCH", True), ("auto", False)])
def test_backend_torch_keeps_hubert_plain(voices: dict[str, Path], backend: str, fast: bool) -> None:
    """HuBERT's packed linear layers follow the backend: on by default on a CPU in fp32, off with the force flag
    (``--backend torch``) and on the reference path (``--eager``)."""
    from rvclora.features.hubert_packed import packed_linear_available

    conv = Converter(voices["base"], voices["a"], hubert=voices["hubert"], backend=backend, fast=fast, device="cpu")
    assert conv.encoder.packed == (backend == "auto" and fast and packed_linear_available())
    assert conv.plain == (backend.lower() == "torch" or not fast)
