"""The two unvoiced-F0 conventions (issue 13 item 17, rvc-interop.md §11): 0 Hz as older RVC, or RVC main's
linear fill. The fill against the formula written out here, extract (settings hash, manifest), training's record
in the adapter, inference's default and override, protect, and the yaml/CLI round trip."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers_assets import build_adapter, build_tiny_hubert, build_workspace, run_cli, voice_like
from helpers_env import clean_env

from rvclora.errors import BadInputError, ConfigError
from rvclora.features import extract as ex
from rvclora.features.f0 import fill_unvoiced, n_frames
from rvclora.infer.chunking import ChunkConfig
from rvclora.infer.converter import Converter
from rvclora.infer.options import ConvertOptions
from rvclora.infer.pipeline import analyze, synthesize
from rvclora.lora.adapter import read_adapter
from rvclora.lora.config import LoRAConfig
from rvclora.lora.meta import AdapterMeta, blend_unvoiced_f0
from rvclora.models.noise import without_noise
from rvclora.workspace import Workspace

SMALL = ChunkConfig(x_pad=0.3, x_query=0.3, x_center=10.0, x_max=12.0)  # short context, never chunks


def reference_fill(f0: np.ndarray) -> np.ndarray:
    """rvc-interop.md §11 written out frame by frame: an unvoiced (0 Hz) frame between voiced frames j < i < k
    gets f0[j] + (f0[k] − f0[j])·(i − j)/(k − j); before the first voiced frame it gets that frame's value, after
    the last voiced one that one's (np.interp holds its end values). No voiced frame: nothing changes."""
    f0 = np.asarray(f0, dtype=np.float64)
    voiced = [i for i, v in enumerate(f0) if v != 0]
    out = f0.copy()
    if not voiced:
        return out
    for i in range(len(f0)):
        if f0[i] != 0:
            continue
        before = [j for j in voiced if j < i]
        after = [k for k in voiced if k > i]
        if before and after:
            j, k = before[-1], after[0]
            out[i] = f0[j] + (f0[k] - f0[j]) * (i - j) / (k - j)
        else:
            out[i] = f0[before[-1]] if before else f0[after[0]]
    return out


# --- the formula ----------------------------------------------------------------------------------------------
def test_fill_matches_the_reference_formula() -> None:
    rng = np.random.default_rng(0)
    f0 = rng.uniform(80, 400, 60).astype(np.float32)
    for run in (slice(0, 5), slice(9, 10), slice(14, 22), slice(30, 31), slice(40, 47), slice(53, 60)):
        f0[run] = 0  # leading, single-frame, inner and trailing unvoiced runs
    filled = fill_unvoiced(f0)
    assert filled.dtype == np.float32 and filled is not f0 and (f0[:5] == 0).all()  # a copy; input untouched
    np.testing.assert_allclose(filled, reference_fill(f0), rtol=1e-6)
    assert (filled[:5] == f0[5]).all() and (filled[53:] == f0[52]).all()  # held, not extrapolated
    assert filled.min() >= f0[f0 > 0].min()  # a fill never leaves the voiced range: pitch never below 1 Hz

    assert not fill_unvoiced(np.zeros(7, np.float32)).any()  # nothing voiced: stays unvoiced
    voiced = rng.uniform(80, 400, 9)
    np.testing.assert_array_equal(fill_unvoiced(voiced), voiced)  # nothing unvoiced: unchanged
    np.testing.assert_array_equal(fill_unvoiced(np.array([0.0, 0.0, 120.0])), [120.0, 120.0, 120.0])
    assert fill_unvoiced(np.array([0, 100], np.int64)).dtype == np.float32
    assert fill_unvoiced(np.array([0, 100], np.float64)).dtype == np.float64


class _Track:
    """An F0 'estimator' returning a fixed track (of the right length) whose cropped-off last frame is voiced."""

    def estimate(self, wav: np.ndarray) -> np.ndarray:
        n = n_frames(len(wav))
        f0 = np.zeros(n, np.float32)
        f0[n // 3] = 100.0
        f0[-1] = 300.0
        return f0


class _Encoder:
    def extract(self, wav: np.ndarray, version: str) -> np.ndarray:
        return np.zeros(((len(wav) - 400) // 320 + 1, 4), np.float32)


def test_inference_fills_the_whole_track_before_cropping_it_like_upstream() -> None:
    analysis = analyze(voice_like(0.5), _Encoder(), _Track(), {"v2"}, SMALL)
    full = _Track().estimate(np.zeros(8000 + 2 * int(SMALL.x_pad * 16000), np.float32))
    total = analysis.f0.shape[0]
    assert total == full.shape[0] - 1  # the estimator's extra frame is cropped …
    np.testing.assert_array_equal(analysis.f0, full[:total])  # … the zero track keeps its zeros …
    np.testing.assert_allclose(analysis.f0_filled, reference_fill(full)[:total], rtol=1e-6)  # … the fill saw it
    assert analysis.f0_filled[-1] > 290.0  # rising towards the cropped 300 Hz frame, not held at 100 Hz


# --- inference --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory, reference_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("unvoiced")
    base = reference_dir / "v2_40k_f0_tiny.pth"
    return {
        "root": root,
        "base": base,
        "hubert": build_tiny_hubert(root / "hubert.pt", "v2"),
        "fill": build_adapter(root / "fill.safetensors", base, seed=1, unvoiced_f0="fill"),
        "zero": build_adapter(root / "zero.safetensors", base, seed=2, unvoiced_f0="zero"),
        "legacy": build_adapter(root / "legacy.safetensors", base, seed=3),  # written before the key existed
    }


def _speech() -> np.ndarray:
    """Silence, a voiced stretch with a quiet gap, silence: unvoiced frames at the start, inside and at the end."""
    gap = np.zeros(3200, np.float32)
    return np.concatenate([gap, voice_like(0.8, pause=True), gap])


def _converter(assets: dict[str, Path], **kwargs: object) -> Converter:
    kwargs.setdefault("model", assets["base"])
    return Converter(hubert=assets["hubert"], f0_method="dio", chunking=SMALL, device="cpu", **kwargs)


@pytest.fixture(scope="module")
def plain(assets: dict[str, Path]) -> Iterator[Converter]:
    """A plain RVC model with a retrieval index (protect only matters where retrieval changed the features)."""
    with pytest.MonkeyPatch.context() as mp:
        clean_env(mp, assets["root"])
        (index,) = (build_workspace(assets["root"] / "ws", assets["hubert"]) / "index").glob("*.index")
        yield _converter(assets, index=index)


def test_fill_changes_the_output_and_equals_the_model_fed_the_formulas_pitch(plain: Converter) -> None:
    voice = plain.voices[0]
    assert voice.unvoiced_f0 == "zero"  # a plain RVC model: the schema default (docs/inference.md says why)
    fill = ConvertOptions(unvoiced_f0="fill", pitch=2.0, index_rate=0.75, protect=0.2)
    zero = dataclasses.replace(fill, unvoiced_f0="zero")
    with without_noise():
        analysis = plain.analyze(_speech(), 16000, fill)
        f0 = analysis.f0
        voiced = np.flatnonzero(f0)
        assert f0[0] == 0 and f0[-1] == 0 and (np.diff(voiced) > 1).any()  # leading, inner, trailing runs
        np.testing.assert_allclose(analysis.f0_filled, reference_fill(f0), rtol=1e-6)
        out_fill, _, _ = synthesize(analysis, voice, fill)
        out_zero, _, _ = synthesize(analysis, voice, zero)
        # the formula's pitch handed to the model as if it had been estimated: the same audio as "fill"
        formula = dataclasses.replace(analysis, f0=reference_fill(f0).astype(np.float32), f0_filled=None)
        out_formula, _, _ = synthesize(formula, voice, zero)
        # protect acts only where pitch < 1 Hz: with the fill it changes nothing, with zeros it does
        out_fill_unprotected, _, _ = synthesize(analysis, voice, dataclasses.replace(fill, protect=0.5))
        out_zero_unprotected, _, _ = synthesize(analysis, voice, dataclasses.replace(zero, protect=0.5))
    np.testing.assert_allclose(out_fill, out_formula, atol=1e-5)
    # noise is off, so equal inputs give equal outputs: any difference is the convention's (the tiny random
    # model barely listens to pitch; the pitch it is given differs on every unvoiced frame)
    assert np.abs(out_fill - out_zero).max() > 1e-3
    np.testing.assert_array_equal(out_fill, out_fill_unprotected)
    assert np.abs(out_zero - out_zero_unprotected).max() > 1e-4


@pytest.mark.slow
def test_adapters_bring_their_training_convention_and_a_flag_wins(assets: dict[str, Path]) -> None:
    from rvclora.inspect.stage import describe

    assert read_adapter(assets["fill"])[1].unvoiced_f0 == "fill"
    assert describe(assets["fill"])["unvoiced_f0"] == "fill"  # `rvclora inspect` shows it
    assert read_adapter(assets["legacy"])[1].unvoiced_f0 is None
    conv = _converter(assets, model=None, lora=assets["fill"])
    assert conv.voices[0].unvoiced_f0 == "fill"
    wav = _speech()
    with without_noise():
        default = conv.convert_many(wav, 16000, index_rate=0.0)[0]
        zero = conv.convert_many(wav, 16000, index_rate=0.0, unvoiced_f0="zero")[0]
        fill = conv.convert_many(wav, 16000, index_rate=0.0, unvoiced_f0="fill")[0]
    assert (default.unvoiced_f0, zero.unvoiced_f0) == ("fill", "zero")
    np.testing.assert_array_equal(default.audio, fill.audio)
    assert np.abs(default.audio - zero.audio).max() > 1e-3  # noise off: equal pitch gives equal audio
    assert _converter(assets, model=None, lora=assets["legacy"]).voices[0].unvoiced_f0 == "zero"
    assert _converter(assets, model=None, lora=assets["fill"], unvoiced_f0="zero").voices[0].unvoiced_f0 == "fill"
    assert _converter(assets, model=None, lora=assets["fill"], unvoiced_f0="zero").options.unvoiced_f0 == "zero"
    with pytest.raises(ConfigError, match="--unvoiced-f0 must be zero or fill"):
        ConvertOptions(unvoiced_f0="interp")


@pytest.mark.slow
def test_blends_follow_the_heaviest_part_and_the_user_config_sets_the_plain_default(
    assets: dict[str, Path], tmp_path: Path
) -> None:
    fill, zero, none = (
        AdapterMeta(config=LoRAConfig(), scale=1.0, layers={}, unvoiced_f0=c) for c in ("fill", "zero", None)
    )
    assert blend_unvoiced_f0([fill, zero], [0.7, 0.3]) == "fill"
    assert blend_unvoiced_f0([fill, zero], [0.3, 0.7]) == "zero"
    assert blend_unvoiced_f0([fill, zero], [0.5, 0.5]) == "fill"  # first of equals
    assert blend_unvoiced_f0([none, zero], [0.9, 0.1]) == "zero" and blend_unvoiced_f0([none], [1.0]) is None
    from rvclora.lora.merge import blend_adapters

    parts = [read_adapter(assets["fill"]), read_adapter(assets["zero"])]
    assert blend_adapters(parts, [0.2, 0.8])[1].unvoiced_f0 == "zero"  # `rvclora merge` blends keep it
    blend = _converter(assets, model=None, lora=[assets["fill"], assets["zero"]], weights=[0.6, 0.4])
    assert blend.voices[0].unvoiced_f0 == "fill"

    config = tmp_path / "xdg" / "rvclora" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("unvoiced_f0: fill\n")
    assert _converter(assets).voices[0].unvoiced_f0 == "fill"
    assert _converter(assets, model=None, lora=assets["zero"]).voices[0].unvoiced_f0 == "zero"  # recorded wins


# --- extract, train, CLI ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, reference_dir: Path) -> Iterator[Path]:
    """A preprocessed and extracted (zero) workspace with 2 clips, copied by each test."""
    from rvclora.audio.preprocess import preprocess_workspace

    root = tmp_path_factory.mktemp("ws") / "voice"
    (root / "raw").mkdir(parents=True)
    gap = np.zeros(20000, np.float32)
    for name, f0 in (("a", 160.0), ("b", 230.0)):
        wav = np.concatenate([gap, voice_like(2.5, 40000, f0, seed=int(f0), pause=True), gap])
        sf.write(root / "raw" / f"{name}.wav", wav, 40000)
    with pytest.MonkeyPatch.context() as mp:
        clean_env(mp, root.parent)
        ws = Workspace.open(
            root,
            overrides={
                "f0_method": "dio",
                "preprocess.workers": 1,
                "extract.build_index": False,
                "assets.hubert": str(reference_dir / "hubert_tiny_fairseq.pt"),
                "assets.base": str(reference_dir / "v2_40k_f0_tiny.G.pth"),
            },
        )
        preprocess_workspace(ws)
        summary = ex.extract(ws)
        assert summary.f0_done >= 2 and summary.unvoiced_f0 == "zero"
        ws.save_settings()  # Workspace.open writes nothing; commands save once they succeed
    yield root


@pytest.fixture
def voice(template: Path, tmp_path: Path) -> Path:
    shutil.copytree(template, tmp_path / "voice")
    return tmp_path / "voice"


def _f0_files(root: Path) -> dict[str, np.ndarray]:
    return {p.stem: np.load(p) for p in sorted((root / "f0").glob("*.npy"))}


def test_extract_redoes_only_pitch_and_stores_the_fill(voice: Path) -> None:
    zero_f0 = _f0_files(voice)
    features = {p.name: p.stat().st_mtime_ns for p in (voice / "features").glob("*.npy")}
    clips = [k for k in zero_f0 if k != ex.MUTE]
    assert all((zero_f0[k] == 0).any() for k in clips)
    before = ex.extract(Workspace.open(voice, create=False))
    assert (before.features_done, before.f0_done) == (0, 0)  # zero adds no key: old hashes stay fresh

    filling = Workspace.open(voice, create=False, overrides={"unvoiced_f0": "fill"})
    fill = ex.extract(filling)
    filling.save_settings()  # as the extract command does once it has succeeded
    assert (fill.features_done, fill.f0_done, fill.unvoiced_f0) == (0, len(clips), "fill")
    assert fill.voiced_fraction == pytest.approx(before.voiced_fraction)  # voicing counted before the fill
    filled = _f0_files(voice)
    for name in clips:
        assert filled[name].dtype == np.float32 and (filled[name] > 0).all()
        np.testing.assert_allclose(filled[name], reference_fill(zero_f0[name]), rtol=1e-6)
    assert not filled[ex.MUTE].any()  # silence has nothing to fill from
    assert {p.name: p.stat().st_mtime_ns for p in (voice / "features").glob("*.npy")} == features
    ws = Workspace.open(voice, create=False)
    assert ws.settings.unvoiced_f0 == "fill" and ex.pitch_convention(ws.manifest) == "fill"
    again = ex.extract(ws)
    assert (again.features_done, again.f0_done) == (0, 0)

    back = ex.extract(Workspace.open(voice, create=False, overrides={"unvoiced_f0": "zero"}))
    assert back.f0_done == len(clips)
    for name in clips:
        np.testing.assert_array_equal(_f0_files(voice)[name], zero_f0[name])


def test_mixed_pitch_files_are_refused_and_legacy_entries_count_as_zero(voice: Path) -> None:
    ws = Workspace.open(voice, create=False)
    assert ex.pitch_convention(ws.manifest) == "zero"
    keys = [k for k in ws.manifest.keys(ex.F0)]
    entry = ws.manifest.entry(ex.F0, keys[0])
    entry["info"].pop("unvoiced_f0")  # as written before the setting existed
    assert ex.pitch_convention(ws.manifest) == "zero"
    entry["info"]["unvoiced_f0"] = "fill"  # as an extract interrupted after changing the setting leaves it
    with pytest.raises(BadInputError, match="mix the unvoiced_f0 conventions"):
        ex.pitch_convention(ws.manifest)


def test_training_records_the_convention_of_the_pitch_files(
    voice: Path, reference_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rvclora.train.workflow as workflow
    from rvclora.lora.inject import add_lora, lora_layers
    from rvclora.models.checkpoint import load_synthesizer
    from rvclora.train.loop import _save_output
    from rvclora.workspace.overrides import Overrides

    jobs = []
    monkeypatch.setattr(workflow, "run_training", lambda job, *callbacks: jobs.append(job))
    workflow.train_workspace(voice, Overrides(unvoiced_f0="fill"))  # train brings pitch up to date first
    assert jobs[-1].unvoiced_f0 == "fill"
    assert all((f > 0).all() for k, f in _f0_files(voice).items() if k != ex.MUTE)

    net = load_synthesizer(reference_dir / "v2_40k_f0_tiny.G.pth")
    add_lora(net, LoRAConfig(rank=2))
    for _, layer in lora_layers(net):
        layer.lora_B.data.normal_()
    path = _save_output(net, jobs[-1], "lora", None, 3, "fp", 1)
    assert read_adapter(path)[1].unvoiced_f0 == "fill"

    workflow.train_workspace(voice, Overrides(f0=False))
    assert jobs[-1].unvoiced_f0 is None  # a no-pitch model has no convention


@pytest.mark.slow
def test_yaml_and_cli_round_trip(voice: Path, assets: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "extract", str(voice), "--unvoiced-f0", "fill", "--json")
    assert code == 0, err
    assert json.loads(out)["unvoiced_f0"] == "fill"
    code, out, err = run_cli(capsys, "extract", str(voice))
    assert code == 0 and "filled from voiced neighbours (unvoiced_f0: fill)" in out, err
    assert "\nunvoiced_f0: fill" in (voice / "rvclora.yaml").read_text()
    assert Workspace.open(voice, create=False).settings.unvoiced_f0 == "fill"

    code, out, err = run_cli(capsys, "extract", str(voice), "--unvoiced-f0", "sometimes")
    assert code == 2 and "sometimes" in err and not out

    text = (voice / "rvclora.yaml").read_text().replace("\nunvoiced_f0: fill", "\nunvoiced_f0: interp")
    (voice / "rvclora.yaml").write_text(text)
    with pytest.raises(ConfigError, match="unvoiced_f0"):
        Workspace.open(voice, create=False)

    src = assets["root"] / "in.wav"
    sf.write(src, _speech(), 16000)
    outputs = {}
    for mode in ("zero", "fill", None):
        dest = assets["root"] / f"out_{mode}.wav"
        args = [
            "infer",
            str(src),
            "--model",
            str(assets["base"]),
            "--hubert",
            str(assets["hubert"]),
            "--f0-method",
            "dio",
            "--device",
            "cpu",
            "--index-rate",
            "0",
            "-o",
            str(dest),
            "--overwrite",
        ]
        with without_noise():
            code, out, err = run_cli(capsys, *args, *(["--unvoiced-f0", mode] if mode else []))
        assert code == 0, err
        outputs[mode] = sf.read(dest)[0]
    np.testing.assert_array_equal(outputs[None], outputs["zero"])  # a plain model's default: zero
    assert np.abs(outputs["fill"] - outputs["zero"]).max() > 1e-3
    code, out, err = run_cli(
        capsys,
        "infer",
        str(src),
        "--model",
        str(assets["base"]),
        "--unvoiced-f0",
        "both",
        "-o",
        str(assets["root"] / "x.wav"),
    )
    assert code == 2 and "both" in err
