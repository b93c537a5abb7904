"""`rvclora merge` and `rvclora inspect` end to end, with non-zero adapters so a merge bug would show."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers_assets import build_adapter, run_cli
from models_helpers import zero_noise

BASE = "v2_40k_f0_tiny"


Cli = Callable[..., SimpleNamespace]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``rvclora ARGS`` in-process through the real entry point (its error handling included)."""

    def run(*args: str) -> SimpleNamespace:
        code, out, err = run_cli(capsys, *args)
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return run


def _infer(model: torch.nn.Module, reference_dir: Path, name: str = BASE) -> torch.Tensor:
    data = np.load(reference_dir / f"{name}.npz")
    t = {k: torch.from_numpy(data[k]) for k in data.files if k.startswith("in_")}
    with zero_noise(), torch.no_grad():
        if model.config.f0:
            out = model.infer(t["in_phone"], t["in_phone_lengths"], t["in_pitch"], t["in_pitchf"], t["in_sid"])
        else:
            out = model.infer(t["in_phone"], t["in_phone_lengths"], t["in_sid"])
    return out[0]


@pytest.fixture(scope="module")
def assets(reference_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("merge")
    base = reference_dir / f"{BASE}.G.pth"
    return {
        "base": base,
        "a": build_adapter(tmp / "a.safetensors", base, seed=1, targets="all", rank=2),
        "b": build_adapter(tmp / "b.pth", base, seed=2, targets="decoder+flow", rank=3),
        "tmp": tmp,
    }


def _attached(base: Path, adapters: list[tuple[Path, float]]) -> torch.Tensor:
    """Reference: adapters attached unmerged, each at its weight, outputs summed in one forward pass."""
    from rvclora.lora.adapter import attach_adapter, read_adapter
    from rvclora.lora.merge import blend_adapters
    from rvclora.models.checkpoint import load_synthesizer

    model = load_synthesizer(base)
    loaded = [read_adapter(p) for p, _ in adapters]
    tensors, meta = blend_adapters(loaded, [w for _, w in adapters], base=model.state_dict())
    attach_adapter(model, tensors, meta)
    return model


@pytest.mark.slow
def test_merge_single_adapter_to_rvc_model(cli: Cli, assets: dict[str, Path], reference_dir: Path) -> None:
    from rvclora.lora.adapter import load_lora
    from rvclora.models.checkpoint import load_rvc_inference, load_synthesizer

    out = assets["tmp"] / "voice.pth"
    res = cli(
        "merge",
        "--base",
        str(assets["base"]),
        "--lora",
        str(assets["a"]),
        "-o",
        str(out),
        "--precision",
        "fp32",
        "--json",
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["kind"] == "rvc-model" and summary["weights"] == [1.0]

    attached = load_synthesizer(assets["base"])
    load_lora(attached, assets["a"])
    merged = load_rvc_inference(out)  # RVC's own reader semantics, strict
    base_out = _infer(load_synthesizer(assets["base"]), reference_dir)
    want = _infer(attached, reference_dir)
    got = _infer(merged, reference_dir)
    assert (want - base_out).abs().max() > 1e-3, "the adapter must change the output"
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()

    ckpt = torch.load(out, weights_only=True)
    assert list(ckpt) == ["weight", "config", "info", "sr", "f0", "version"]
    assert not any("enc_q" in k or "lora" in k for k in ckpt["weight"])
    assert ckpt["sr"] == "40k" and ckpt["f0"] == 1 and ckpt["version"] == "v2" and len(ckpt["config"]) == 18


@pytest.mark.slow
def test_merge_blend_to_model_and_to_adapter_agree(cli: Cli, assets: dict[str, Path], reference_dir: Path) -> None:
    from rvclora.models.checkpoint import load_rvc_inference, load_synthesizer

    pth, st = assets["tmp"] / "blend.pth", assets["tmp"] / "blend.safetensors"
    common = [
        "--base",
        str(assets["base"]),
        "--lora",
        str(assets["a"]),
        "--lora",
        str(assets["b"]),
        "--weights",
        "0.7,0.3",
        "--scale",
        "0.5",
    ]
    assert cli("merge", *common, "-o", str(pth), "--precision", "fp32").returncode == 0
    res = cli("merge", *common, "-o", str(st), "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["rank"] == 5  # ranks concatenated: 2 + 3

    want = _infer(_attached(assets["base"], [(assets["a"], 0.35), (assets["b"], 0.15)]), reference_dir)
    assert torch.allclose(_infer(load_rvc_inference(pth), reference_dir), want, atol=1e-4)

    from rvclora.lora.adapter import load_lora

    via_adapter = load_synthesizer(assets["base"])
    load_lora(via_adapter, st)
    # the blended adapter is stored in fp16, so allow for that rounding
    assert torch.allclose(_infer(via_adapter, reference_dir), want, atol=2e-3)


def test_merge_refuses_adapter_for_another_base(cli: Cli, assets: dict[str, Path], reference_dir: Path) -> None:
    out = assets["tmp"] / "wrong.pth"
    other = reference_dir / "v1_48k_f0_tiny.G.pth"
    res = cli("merge", "--base", str(other), "--lora", str(assets["a"]), "-o", str(out))
    assert res.returncode == 2
    assert "error:" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) <= 3
    assert not out.exists() and not list(out.parent.glob(".wrong.pth.*"))


@pytest.mark.slow
def test_merge_unwritable_output_and_existing_output(cli: Cli, assets: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = cli("merge", "--base", str(assets["base"]), "--lora", str(assets["a"]), "-o", str(blocker / "x.pth"))
    assert res.returncode == 2 and "error:" in res.stderr and "Traceback" not in res.stderr
    existing = tmp_path / "e.pth"
    existing.write_bytes(b"keep")
    res = cli("merge", "--base", str(assets["base"]), "--lora", str(assets["a"]), "-o", str(existing))
    assert res.returncode == 2 and existing.read_bytes() == b"keep"


def test_inspect_index(cli: Cli, tmp_path: Path) -> None:
    from rvclora.features.index import build_index

    feats = np.random.default_rng(0).standard_normal((500, 256)).astype(np.float32)
    build_index(feats, tmp_path / "v.index")
    desc = json.loads(cli("inspect", str(tmp_path / "v.index"), "--json").stdout)
    assert (desc["kind"], desc["ntotal"], desc["dim"], desc["version"]) == ("faiss-index", 500, 256, "v1")


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,kind,version,sr,f0",
    [
        ("v2_40k_f0_tiny.pth", "rvc-model", "v2", 40000, 1),
        ("v2_40k_f0_tiny.G.pth", "rvc-train-G", "v2", 40000, 1),
        ("v1_48k_f0_tiny.pth", "rvc-model", "v1", 48000, 1),
        ("v2_32k_nof0_tiny.G.pth", "rvc-train-G", "v2", 32000, 0),
        ("hubert_tiny_fairseq.pt", "hubert", None, None, None),
        ("rmvpe_tiny.pt", "rmvpe", None, None, None),
    ],
)
def test_inspect_reference_files(
    cli: Cli, reference_dir: Path, name: str, kind: str, version: str | None, sr: int | None, f0: int | None
) -> None:
    res = cli("inspect", str(reference_dir / name), "--json")
    assert res.returncode == 0, res.stderr
    desc = json.loads(res.stdout)
    assert (desc["kind"], desc.get("version"), desc.get("sr"), desc.get("f0")) == (kind, version, sr, f0)
    assert desc["size_bytes"] == (reference_dir / name).stat().st_size and desc["n_params"] > 0


@pytest.mark.slow
def test_inspect_adapter_and_discriminator(cli: Cli, assets: dict[str, Path], tmp_path: Path) -> None:
    from rvclora.lora.fingerprint import base_fingerprint
    from rvclora.models.checkpoint import load_synthesizer
    from rvclora.models.discriminator import MultiPeriodDiscriminator

    desc = json.loads(cli("inspect", str(assets["a"]), "--json").stdout)
    assert desc["kind"] == "rvclora-adapter" and desc["rank"] == 2 and desc["version"] == "v2"
    assert desc["base_fingerprint"] == base_fingerprint(load_synthesizer(assets["base"]))
    d_path = tmp_path / "D.pth"
    torch.save({"model": MultiPeriodDiscriminator("v1").state_dict()}, d_path)
    desc = json.loads(cli("inspect", str(d_path), "--json").stdout)
    assert (desc["kind"], desc["version"]) == ("rvc-train-D", "v1")
    res = cli("inspect", str(assets["a"]))  # the table form
    assert res.returncode == 0 and "rank" in res.stdout


class Arbitrary:
    """A class no checkpoint loader should ever instantiate."""


def test_inspect_bad_files(cli: Cli, tmp_path: Path, reference_dir: Path) -> None:
    evil = tmp_path / "evil.pth"
    torch.save({"x": Arbitrary()}, evil)
    truncated = tmp_path / "cut.pth"
    truncated.write_bytes((reference_dir / "v2_40k_f0_tiny.pth").read_bytes()[:4000])
    other = tmp_path / "other.pth"
    torch.save({"some": torch.zeros(3)}, other)
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    for path in (evil, truncated, other, text, tmp_path / "missing.pth"):
        res = cli("inspect", str(path))
        assert res.returncode == 2, (path, res.stderr)
        assert res.stderr.startswith("error:") and "Traceback" not in res.stderr, res.stderr
    assert "not a file rvclora knows" in cli("inspect", str(other)).stderr
