"""The Python API: one call per command (``rvclora.<stage>(request)``), each returning its typed summary, and the
typed overrides that replace dotted-key dicts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
import torch
from helpers_assets import build_tiny_hubert, voice_like

SR = 16000


def test_import_rvclora_stays_torch_free_and_lists_every_stage() -> None:
    code = (
        "import sys, rvclora\n"
        "names = ['preprocess', 'extract', 'train', 'convert', 'merge', 'compress', 'inspect', 'evaluate', 'sweep']\n"
        "assert all(n in rvclora.__all__ for n in names)\n"
        "assert callable(rvclora.train) and callable(rvclora.merge) and callable(rvclora.preprocess)\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_called_stage_package_keeps_its_modules() -> None:
    """``rvclora.train`` is the package (callable), so ``import rvclora.train.loop as loop`` keeps working."""
    import rvclora
    import rvclora.train.plan as plan
    from rvclora.train.workflow import run_train

    assert rvclora.train.plan is plan and callable(rvclora.train)
    assert rvclora.train._stage_entry == f"{run_train.__module__}:{run_train.__name__}"


def test_overrides_name_only_schema_keys() -> None:
    from rvclora.workspace.overrides import schema_keys
    from rvclora.workspace.schema import KEYS

    assert [k for k in schema_keys() if k not in KEYS] == []


def test_overrides_spell_the_settings_a_command_line_gives() -> None:
    import enum

    from rvclora.workspace.overrides import AssetOverrides, LoRAOverrides, Overrides, TrainOverrides

    rate = enum.Enum("Rate", {"k48": "48k"})
    given = Overrides(
        sr=rate.k48,
        assets=AssetOverrides(base=Path("/m/G.pth")),
        lora=LoRAOverrides(rank=4),
        train=TrainOverrides(max_steps=0, cache=False),
    )
    assert given.settings() == {"sr": "48k", "assets.base": "/m/G.pth", "lora.rank": 4, "train.cache": False}
    assert given.cleared() == ["train.max_steps"]  # --max-steps 0 clears a stored limit
    assert Overrides(train=TrainOverrides(max_steps=7)).settings() == {"train.max_steps": 7}
    assert given.without_inputs().settings() == {"sr": "48k", "lora.rank": 4, "train.cache": False}


def test_a_bad_override_is_refused_by_the_workspace(tmp_path: Path) -> None:
    from rvclora.errors import ConfigError
    from rvclora.workspace import Workspace
    from rvclora.workspace.overrides import LoRAOverrides, Overrides

    with pytest.raises(ConfigError):
        Workspace.open(tmp_path / "voice", overrides=Overrides(lora=LoRAOverrides(rank=0)))
    assert not (tmp_path / "voice").exists()


# --- every stage through rvclora.<name> on a tiny workspace ------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, reference_dir: Path) -> dict[str, Any]:
    """Three short recordings and tiny models: the narrowest D, a tiny HuBERT, the tiny reference G."""
    from rvclora.models.discriminator import MultiPeriodDiscriminator

    root = tmp_path_factory.mktemp("api")
    raw = root / "raw"
    raw.mkdir()
    for i in range(3):
        sf.write(raw / f"take{i}.wav", voice_like(1.3, sr=SR, f0=130.0 + 30 * i, seed=i), SR)
    base_d = root / "D.pth"
    torch.manual_seed(0)
    torch.save({"model": MultiPeriodDiscriminator("v2", width_divisor=128).state_dict()}, base_d)
    return {
        "root": root,
        "raw": raw,
        "base": reference_dir / "v2_40k_f0_tiny.G.pth",
        "base_d": base_d,
        "hubert": build_tiny_hubert(root / "hubert.pt", "v2"),
    }


@pytest.fixture(scope="module")
def trained(world: dict[str, Any]) -> dict[str, Any]:
    """preprocess → extract → train, each through the public API."""
    import rvclora
    from rvclora.audio.preprocess import PreprocessSummary
    from rvclora.features.extract import ExtractSummary
    from rvclora.train.workflow import TrainSummary

    ws = world["root"] / "voice"
    overrides = rvclora.Overrides(
        input=world["raw"],
        assets=rvclora.AssetOverrides(base=world["base"], base_d=world["base_d"], hubert=world["hubert"]),
        f0_method="dio",
        preprocess=rvclora.PreprocessOverrides(workers=1),
    )
    started: list[int] = []
    pre = rvclora.preprocess(rvclora.PreprocessRequest(ws, overrides), on_start=started.append)
    assert isinstance(pre, PreprocessSummary) and pre.clips > 0 and started == [3]
    assert (ws / "rvclora.yaml").is_file()  # the request's settings are stored once the stage succeeded
    ext = rvclora.extract(rvclora.ExtractRequest(ws))
    assert isinstance(ext, ExtractSummary) and ext.features_done == pre.clips and ext.f0_method == "dio"
    train = rvclora.TrainOverrides(max_steps=1, batch_size=2, save_every=1)
    summary = rvclora.train(
        rvclora.TrainRequest(ws, rvclora.Overrides(train=train, lora=rvclora.LoRAOverrides(rank=2)))
    )
    assert isinstance(summary, TrainSummary) and summary.steps == 1 and summary.output is not None
    assert summary.to_json()["steps"] == 1 and "history" not in summary.to_json()
    return {"ws": ws, "adapter": Path(summary.output)}


@pytest.mark.slow
def test_every_stage_returns_its_summary(world: dict[str, Any], trained: dict[str, Any], tmp_path: Path) -> None:
    import rvclora
    from rvclora.compress.stage import CompressSummary
    from rvclora.evaluate.run import EvalSummary
    from rvclora.infer.run import InferSummary
    from rvclora.inspect.stage import FileDescription, describe
    from rvclora.merge.stage import MergeSummary

    adapter, source = trained["adapter"], world["raw"] / "take0.wav"
    converted = tmp_path / "converted.wav"
    request = rvclora.InferRequest(
        [str(source)], str(converted), rvclora.ConverterConfig(lora=[adapter], device="cpu"), rvclora.ConvertOptions()
    )
    conv = rvclora.convert(request)
    assert isinstance(conv, InferSummary) and [r.status for r in conv.rows] == ["converted"]
    assert conv.to_json()[0]["sr"] == 40000 and converted.is_file()

    merged = rvclora.merge(rvclora.MergeRequest(world["base"], [adapter], tmp_path / "voice.pth"))
    assert isinstance(merged, MergeSummary) and merged.kind == "rvc-model" and merged.weights == [1.0]
    assert "rank" not in merged.to_json() and merged.to_json()["precision"] == "fp16"

    resized = rvclora.compress(
        rvclora.CompressRequest(adapter, output=tmp_path / "r1.safetensors", options=rvclora.CompressOptions(rank=1))
    )
    assert isinstance(resized, CompressSummary) and resized.mode == "adapter" and resized.report["rank"] == 1

    desc = rvclora.inspect(rvclora.InspectRequest(adapter))
    assert isinstance(desc, FileDescription) and desc.kind == "rvclora-adapter" and desc.details["rank"] == 2
    assert desc.to_json() == describe(adapter)  # the same JSON as before the API

    settings = rvclora.EvalSettings(f0_method="dio", speaker=False)
    scored = rvclora.evaluate(rvclora.EvalRequest(source, converted, settings))
    assert isinstance(scored, EvalSummary) and scored.pairing is None and scored.results[0].metrics["mcd_db"] > 0


@pytest.mark.slow
def test_sweep_returns_its_summary(world: dict[str, Any], trained: dict[str, Any]) -> None:
    import rvclora
    from rvclora.sweep.stage import SweepSummary

    options = rvclora.SweepOptions(ranks=(1,), presets=("voice",), full=False, steps=1, holdout=0.3, seed=1)
    overrides = rvclora.Overrides(train=rvclora.TrainOverrides(batch_size=2))
    summary = rvclora.sweep(rvclora.SweepRequest(trained["ws"], overrides, options))
    assert isinstance(summary, SweepSummary) and [v.name for v in summary.variants] == ["embedding", "voice-r1"]
