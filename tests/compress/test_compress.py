"""rvclora compress: factor layouts, SVD truncation, refusal of unrelated voices, merge round trip, resizing.

The "fine-tuned" voice is simulated (:mod:`rvclora.compress.simulate`): ``rvclora train --full`` needs a
prepared workspace and minutes of CPU, so every weight of the fixture base gets a random rank-2 change (10 %
of its norm) plus a small full-rank noise (1 % of it). That is the structure a real fine-tune has — a dominant
low-rank change over a small diffuse one — and it makes the expected behaviour checkable: the error falls with
the rank and vanishes at full rank.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_assets import run_cli
from torch import nn

from rvclora.compress import probe as probes
from rvclora.compress.factor import Layout, Spectrum
from rvclora.compress.simulate import simulate_fine_tune
from rvclora.compress.stage import CompressOptions, compress_folder, compress_model, resize_adapter
from rvclora.errors import ConfigError, IncompatibleError
from rvclora.lora.adapter import load_lora, read_adapter
from rvclora.lora.inject import lora_layers
from rvclora.lora.layers import POINTWISE_FIRST, TRANSPOSED_FIRST, WRAPPERS
from rvclora.lora.merge import merge_lora
from rvclora.lora.weights import effective_weight
from rvclora.models.checkpoint import load_synthesizer, save_rvc_model
from rvclora.models.synthesizer import build_synthesizer

BASE = "v2_40k_f0_tiny.G.pth"
PROBE_SECONDS = 0.3


@pytest.fixture(scope="module")
def assets(reference_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("compress")
    base = reference_dir / BASE
    voice = load_synthesizer(base)
    voice.remove_posterior_encoder()
    save_rvc_model(
        simulate_fine_tune(voice, 1, true_rank=2, change=0.1, noise=0.01), folder / "voice.pth", precision="fp32"
    )
    torch.manual_seed(5)
    stranger = build_synthesizer(voice.config)  # same architecture, its own random weights
    stranger.remove_posterior_encoder()
    save_rvc_model(stranger, folder / "stranger.pth", precision="fp32")
    return {"base": base, "voice": folder / "voice.pth", "stranger": folder / "stranger.pth", "dir": folder}


def _options(**kwargs: object) -> CompressOptions:
    return CompressOptions(**{"probe_seconds": PROBE_SECONDS, "precision": "fp32", "overwrite": True, **kwargs})


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Effective weights (g·v/‖v‖ resolved) and every other tensor, by module path / key."""
    out = {}
    for path, module in model.named_modules():
        if path and hasattr(module, "weight_g") or isinstance(getattr(module, "weight", None), torch.Tensor):
            out[path + ".<w>"] = effective_weight(module).detach().float()
    for key, value in model.state_dict().items():
        if not key.endswith(("weight", "weight_g", "weight_v")):
            out[key] = value.float()
    return out


# -- layouts: one per layer kind, checked against the LoRA layers' own delta_weight() -------------------------
LAYERS = [
    ("linear", lambda: nn.Linear(5, 7), None),
    ("embedding", lambda: nn.Embedding(9, 4), None),
    ("conv1d", lambda: nn.Conv1d(3, 6, 5, dilation=2, padding=4), None),
    ("conv_transpose1d", lambda: nn.ConvTranspose1d(6, 3, 4, stride=2, padding=1), POINTWISE_FIRST),
    ("conv_transpose1d", lambda: nn.ConvTranspose1d(6, 3, 4, stride=2, padding=1), TRANSPOSED_FIRST),
]


@pytest.mark.parametrize("kind,make,order", LAYERS)
def test_layout_factors_reproduce_delta_through_lora_layer(kind: str, make, order: str | None) -> None:
    torch.manual_seed(0)
    base = make()
    delta = torch.randn_like(base.weight)
    layout = Layout(kind, tuple(base.weight.shape), order)
    spectrum = Spectrum.of(layout.to_matrix(delta))
    a, b = layout.to_factors(*spectrum.factors(spectrum.max_rank))
    extra = {"order": order} if order else {}
    layer = WRAPPERS[kind](base, spectrum.max_rank, **extra)
    with torch.no_grad():
        layer.lora_A.copy_(a)
        layer.lora_B.copy_(b)
    torch.testing.assert_close(layer.delta_weight(), delta, atol=1e-5, rtol=1e-5)
    left, right = layout.from_factors(a, b)
    torch.testing.assert_close(left @ right, layout.to_matrix(delta).float(), atol=1e-5, rtol=1e-5)
    # balanced split: both sides carry √σ, so their Frobenius norms agree
    assert abs(float(left.norm()) - float(right.norm())) < 1e-4 * float(left.norm())


# -- compressing a simulated fine-tune -----------------------------------------------------------------------
@pytest.mark.slow
def test_error_falls_with_rank_and_full_rank_is_exact(assets: dict[str, Path]) -> None:
    reports = [
        compress_model(assets["voice"], assets["base"], assets["dir"] / f"r{r}.safetensors", _options(rank=r))
        for r in (1, 2, 4, 8, 10_000)
    ]
    errors = np.array([[row["rel_error"] for row in rep["layers"]] for rep in reports])
    assert (np.diff(errors, axis=0) <= 1e-9).all()
    means = errors.mean(axis=1)
    assert (np.diff(means) < 0).all() and means[-1] < 1e-6
    snrs = [rep["audio"]["snr_db"] for rep in reports[:-1]]
    assert snrs == sorted(snrs)
    assert reports[-1]["audio"]["max_abs"] < 1e-4
    assert reports[-1]["bytes"]["adapter"] < reports[-1]["bytes"]["source"] * 2  # sanity: no blow-up
    base = load_synthesizer(assets["base"])
    base.remove_posterior_encoder()
    load_lora(base, assets["dir"] / "r10000.safetensors")
    restored, voice = _weights(merge_lora(base)), _weights(load_synthesizer(assets["voice"]))
    assert restored.keys() == voice.keys()
    for key in voice:
        torch.testing.assert_close(restored[key], voice[key], atol=1e-5, rtol=0, msg=key)


@pytest.mark.slow
def test_adapter_metadata_and_balanced_scale(assets: dict[str, Path]) -> None:
    compress_model(assets["voice"], assets["base"], assets["dir"] / "meta.safetensors", _options(rank=3))
    tensors, meta = read_adapter(assets["dir"] / "meta.safetensors")
    assert meta.scale == 1.0 and meta.config.alpha == meta.config.rank == 3
    assert "full.emb_g.weight" in tensors and "full.enc_p.encoder.attn_layers.0.emb_rel_k" in tensors
    assert meta.info["base_name"] == assets["base"].name  # adapters keep no absolute local paths
    assert set(meta.config.rank_pattern) < set(meta.layers)  # only the layers below rank 3 are listed
    assert all(meta.layer_scale(p) == 1.0 for p in meta.layers)
    for path, kind in meta.layers.items():
        assert kind in ("linear", "embedding", "conv1d", "conv_transpose1d")
        assert f"{path}.lora_A" in tensors and f"{path}.lora_B" in tensors


@pytest.mark.slow
def test_auto_rank_meets_target_with_per_layer_ranks(assets: dict[str, Path]) -> None:
    out = assets["dir"] / "auto.safetensors"
    report = compress_model(assets["voice"], assets["base"], out, _options(rank=None, target_snr=40.0))
    assert report["rank"] == "auto" and report["audio"]["snr_db"] >= 40.0
    ranks = {row["rank"] for row in report["layers"]}
    assert len(ranks) > 1  # chosen per layer
    base = load_synthesizer(assets["base"])
    base.remove_posterior_encoder()
    load_lora(base, out)
    meta = read_adapter(out)[1]
    assert {p: layer.rank for p, layer in lora_layers(base)} == {p: meta.config.rank_for(p) for p in meta.layers}
    assert meta.config.rank == max(ranks) and meta.config.rank_pattern  # the largest, and the layers below it
    assert {layer.scale for _, layer in lora_layers(base)} == {1.0}


@pytest.mark.slow
def test_unrelated_voice_is_refused_unless_forced(assets: dict[str, Path]) -> None:
    out = assets["dir"] / "stranger.safetensors"
    with pytest.raises(IncompatibleError, match="not trained from"):
        compress_model(assets["stranger"], assets["base"], out, _options(rank=2))
    assert not out.exists()
    report = compress_model(assets["stranger"], assets["base"], out, _options(rank=2, force=True))
    assert out.exists() and any("not trained from" in w for w in report["warnings"])


@pytest.mark.slow
def test_other_architecture_and_bad_targets(assets: dict[str, Path], reference_dir: Path) -> None:
    with pytest.raises(IncompatibleError):
        compress_model(
            assets["voice"], reference_dir / "v1_48k_f0_tiny.G.pth", assets["dir"] / "x.safetensors", _options(rank=2)
        )
    with pytest.raises(ConfigError):
        compress_model(
            assets["voice"],
            assets["base"],
            assets["dir"] / "x.safetensors",
            _options(rank=2, targets=["dec.nothing.*"]),
        )


@pytest.mark.slow
def test_cli_round_trip_through_merge_matches_report(
    assets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    adapter, merged = tmp_path / "v.safetensors", tmp_path / "merged.pth"
    code, stdout, stderr = run_cli(
        capsys,
        "compress",
        str(assets["voice"]),
        "--base",
        str(assets["base"]),
        "--rank",
        "2",
        "-o",
        str(adapter),
        "--probe-seconds",
        str(PROBE_SECONDS),
        "--json",
    )
    assert code == 0, stderr
    report = json.loads(stdout)
    code, _, stderr = run_cli(
        capsys, "merge", "--base", str(assets["base"]), "--lora", str(adapter), "-o", str(merged), "--precision", "fp32"
    )
    assert code == 0, stderr
    voice = load_synthesizer(assets["voice"])
    probe = probes.synthetic_probe(voice.config.content_dim, True, PROBE_SECONDS)
    ref, test = probes.render(voice, probe), probes.render(load_synthesizer(merged), probe)
    snr = 10 * np.log10(np.sum(ref**2) / np.sum((ref - test) ** 2))
    assert abs(snr - report["audio"]["snr_db"]) < 0.05
    assert abs(np.max(np.abs(ref - test)) - report["audio"]["max_abs"]) < 1e-5
    assert report["bytes"]["adapter"] == adapter.stat().st_size and report["audio"]["mcd_db"] > 0
    # an unrelated voice: one line, exit 2, nothing written
    code, _, stderr = run_cli(
        capsys,
        "compress",
        str(assets["stranger"]),
        "--base",
        str(assets["base"]),
        "--rank",
        "2",
        "-o",
        str(tmp_path / "s.safetensors"),
    )
    assert code == 2 and "not trained from" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "s.safetensors").exists()


# -- resizing existing adapters ------------------------------------------------------------------------------
def _deltas(base_path: Path, adapter: Path) -> dict[str, torch.Tensor]:
    model = load_synthesizer(base_path)
    load_lora(model, adapter)
    return {p: layer.delta_weight(torch.float32).detach() for p, layer in lora_layers(model)}


@pytest.mark.slow
def test_resize_exact_at_old_rank_and_optimal_below(reference_dir: Path, tmp_path: Path) -> None:
    from helpers_assets import build_adapter

    base = reference_dir / BASE
    source = build_adapter(tmp_path / "a.safetensors", base, seed=3, targets="all", rank=4)
    old = _deltas(base, source)
    tensors, meta = read_adapter(source)
    for rank in (4, 6):
        resize_adapter(source, rank, tmp_path / f"r{rank}.safetensors", options=_options(rank=rank))
        new = _deltas(base, tmp_path / f"r{rank}.safetensors")
        for path in old:
            torch.testing.assert_close(new[path], old[path], atol=2e-5, rtol=1e-4)
    report = resize_adapter(source, 2, tmp_path / "r2.safetensors", base_path=base, options=_options(rank=2))
    new = _deltas(base, tmp_path / "r2.safetensors")
    for row in report["layers"]:
        path, delta = row["layer"], old[row["layer"]]
        layout = Layout(meta.layers[path], tuple(delta.shape), meta.conv_transpose_order.get(path))
        sv = torch.linalg.svdvals(layout.to_matrix(delta).double())
        tail = float(sv[2:].square().sum().sqrt())
        assert abs(float((new[path] - delta).norm()) - tail) < 1e-4 * float(delta.norm()) + 1e-6
        assert abs(row["rel_error"] - tail / float(sv.square().sum().sqrt())) < 1e-4
    assert report["audio"]["snr_db"] is not None and report["audio"]["max_abs"] > 0
    assert torch.equal(
        read_adapter(tmp_path / "r2.safetensors")[0]["full.emb_g.weight"],
        tensors["full.emb_g.weight"].to(torch.float32),
    )


@pytest.mark.slow
def test_folder_mode_summary_skip_and_refusal(assets: dict[str, Path], tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    for name in ("voice", "stranger"):
        (models / f"{name}.pth").write_bytes(assets[name].read_bytes())
    summary = compress_folder(models, assets["base"], tmp_path / "out", _options(rank=2, overwrite=False))
    status = {Path(e["source"]).stem: e["status"] for e in summary["models"]}
    assert status == {"voice": "ok", "stranger": "refused"}
    assert (
        summary["bytes_saved"] == assets["voice"].stat().st_size - (tmp_path / "out/voice.safetensors").stat().st_size
    )
    again = compress_folder(models, assets["base"], tmp_path / "out", _options(rank=2, overwrite=False))
    assert again["models"][1]["status"] == "skipped (exists)" and again["compressed"] == 0


# -- the report: a summary per module group, warnings that agree with the measured audio ---------------------
@pytest.fixture(scope="module")
def diffuse_voice(assets: dict[str, Path]) -> Path:
    """A gentler fine-tune: at rank 1 most layers keep under half their change, yet the audio stays close."""
    voice = load_synthesizer(assets["base"])
    voice.remove_posterior_encoder()
    path = assets["dir"] / "diffuse.pth"
    save_rvc_model(simulate_fine_tune(voice, 1, true_rank=2, change=0.02, noise=0.01), path, precision="fp32")
    return path


@pytest.mark.slow
def test_default_report_is_a_group_summary_without_a_false_warning(
    assets: dict[str, Path],
    diffuse_voice: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = tmp_path / "d.safetensors"
    args = [
        "compress",
        str(diffuse_voice),
        "--base",
        str(assets["base"]),
        "--rank",
        "1",
        "-o",
        str(out),
        "--probe-seconds",
        str(PROBE_SECONDS),
    ]
    code, stdout, stderr = run_cli(capsys, *args, "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    low = [row for row in report["layers"] if row["energy"] < 0.5]
    assert len(low) > len(report["layers"]) / 2 and report["audio"]["snr_db"] > 30.0  # the case of the issue
    assert report["warnings"] == []  # the audio met the target: no "raise --rank"
    groups = {g["group"]: g for g in report["groups"]}
    assert sum(g["layers"] for g in groups.values()) == len(report["layers"])
    assert groups["dec.resblocks"]["layers"] == sum(r["layer"].startswith("dec.resblocks.") for r in report["layers"])
    assert sum(g["params"] for g in groups.values()) == report["params"] - report["full"]["params"]
    code, stdout, stderr = run_cli(capsys, *args, "--overwrite")
    assert code == 0, stderr
    assert "dec.resblocks" in stdout and "dec.resblocks.0" not in stdout  # one line per group, not per layer
    assert len(stdout.splitlines()) < 40 and "…" not in stdout and "inf" not in stdout and "warning" not in stderr


@pytest.mark.slow
def test_fixed_rank_below_the_target_warns_with_the_measured_snr_and_layers_are_on_request(
    assets: dict[str, Path],
    diffuse_voice: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, stdout, stderr = run_cli(
        capsys,
        "compress",
        str(diffuse_voice),
        "--base",
        str(assets["base"]),
        "--rank",
        "1",
        "-o",
        str(tmp_path / "d.safetensors"),
        "--probe-seconds",
        str(PROBE_SECONDS),
        "--target-snr",
        "90",
        "--layers",
    )
    assert code == 0, stderr
    assert "under the 90 dB target" in stderr and "raise --rank" in stderr
    assert "dec.resblocks.0.convs1.0" in stdout and "…" not in stdout  # the full table, names whole
