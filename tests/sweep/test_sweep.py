"""`rvclora sweep`: the split by source recording, the gain arithmetic, the variant table, resume, bad input.

The end-to-end runs use the tiny v2-40k fixture, a narrow discriminator file, the tiny HuBERT and dio
pitch, with a handful of steps per variant, so they take seconds on CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
import torch
from helpers_assets import build_tiny_hubert, voice_like

from rvclora.workspace.overrides import AssetOverrides, Overrides, PreprocessOverrides, TrainOverrides

SR = 40000


# --- split and arithmetic -----------------------------------------------------------------------------


def test_holdout_keeps_each_recording_on_one_side_and_is_seeded() -> None:
    from rvclora.sweep.holdout import split_by_source

    source_of = {f"{s}_{k}": f"rec{s}" for s in range(10) for k in range(3)}
    train, held = split_by_source(source_of, 0.2, seed=7)
    assert sorted(train + held) == sorted(source_of)
    held_sources = {source_of[c] for c in held}
    assert len(held_sources) == 2 and not held_sources & {source_of[c] for c in train}
    assert split_by_source(source_of, 0.2, seed=7) == (train, held)
    others = {tuple(split_by_source(source_of, 0.2, seed=s)[1]) for s in range(8)}
    assert len(others) > 1  # the seed chooses


def test_holdout_needs_two_recordings_and_leaves_one_to_train() -> None:
    from rvclora.errors import BadInputError
    from rvclora.sweep.holdout import MIN_SOURCES, split_by_source

    with pytest.raises(BadInputError, match=f"at least {MIN_SOURCES} source recordings"):
        split_by_source({"a_0": "a", "a_1": "a"}, 0.5, 0)
    train, held = split_by_source({"a_0": "a", "b_0": "b"}, 0.9, 0)
    assert len(train) == len(held) == 1


def test_gain_is_the_share_of_the_floor_to_full_change() -> None:
    from rvclora.sweep.gain import gain_pct

    assert gain_pct(8.0, floor=10.0, full=6.0) == pytest.approx(50.0)  # MCD: lower is better
    assert gain_pct(0.8, floor=0.6, full=0.9) == pytest.approx(200 / 3)  # similarity: higher is better
    assert gain_pct(11.0, floor=10.0, full=6.0) == pytest.approx(-25.0)  # worse than the floor
    assert gain_pct(6.0, floor=10.0, full=6.0) == pytest.approx(100.0)
    assert gain_pct(7.0, floor=7.0, full=7.0) is None and gain_pct(None, 1.0, 2.0) is None


def test_variants_and_table_gains() -> None:
    from rvclora.sweep.stage import VariantResult, add_gains
    from rvclora.sweep.variants import SweepOptions, plan_variants

    variants = plan_variants(SweepOptions(ranks=(8, 4), presets=("voice", "decoder")), lr=5e-4)
    assert [v.name for v in variants] == ["embedding", "voice-r4", "voice-r8", "decoder-r4", "decoder-r8", "full"]
    assert variants[-1].lr == 1e-4 and {v.lr for v in variants[:-1]} == {5e-4}
    assert variants[2].lora(1.0) == {"rank": 8, "alpha": 8.0, "targets": "voice"}
    assert variants[0].lora(1.0)["targets"] == ["emb_g"]

    def row(name: str, mcd: float, sim: float | None) -> VariantResult:
        return VariantResult(
            name, "lora", None, None, 1e-3, 10, 1.0, 5, "x", {"mcd_db": mcd, "speaker_similarity": sim}
        )

    rows = [row("embedding", 9.0, None), row("voice-r8", 7.5, None), row("full", 7.0, None)]
    add_gains(rows)
    assert [r.gain_mcd_pct for r in rows] == [pytest.approx(0.0), pytest.approx(75.0), pytest.approx(100.0)]
    assert all(r.gain_speaker_pct is None for r in rows)
    rows = [row("embedding", 9.0, 0.5), row("voice-r8", 8.0, 0.8), row("full", 7.0, 0.9)]
    add_gains(rows)
    assert [r.gain_speaker_pct for r in rows] == [pytest.approx(0.0), pytest.approx(75.0), pytest.approx(100.0)]


def test_plot_draws_the_table(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from rvclora.sweep.plot import plot_sweep
    from rvclora.sweep.stage import SweepSummary, VariantResult

    rows = [
        VariantResult("embedding", "floor", None, None, 1e-3, 900, 1.0, 5, "a", {"mcd_db": 9.0}),
        VariantResult("voice-r8", "lora", 8, "voice", 1e-3, 90_000, 1.0, 5, "b", {"mcd_db": 7.5}),
        VariantResult("full", "full", None, None, 1e-4, 9_000_000, 1.0, 5, "c", {"mcd_db": 7.0}),
    ]
    plot_sweep(SweepSummary("ws", 5, 0, 3, ["x"], ["rec"], rows), tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the stage on a tiny workspace ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory, reference_dir: Path) -> dict[str, Path]:
    from rvclora.models.discriminator import MultiPeriodDiscriminator

    root = tmp_path_factory.mktemp("sweep_assets")
    base_d = root / "D.pth"  # narrow D: same architecture, channels / 128
    torch.manual_seed(0)
    torch.save({"model": MultiPeriodDiscriminator("v2", width_divisor=128).state_dict()}, base_d)
    return {
        "base": reference_dir / "v2_40k_f0_tiny.G.pth",
        "base_d": base_d,
        "hubert": build_tiny_hubert(root / "hubert.pt", "v2"),
    }


def _raw(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sf.write(folder / f"take{i}.wav", voice_like(1.3, sr=SR, f0=130.0 + 30 * i, seed=i), SR)
    return folder


def _workspace(ws: Path, raw: Path, assets: dict[str, Path]) -> Overrides:
    """Settings as the CLI flags would give them (preprocess in-process: no worker start-up)."""
    return Overrides(
        input=raw,
        assets=AssetOverrides(base=assets["base"], base_d=assets["base_d"], hubert=assets["hubert"]),
        f0_method="dio",
        preprocess=PreprocessOverrides(workers=1),
        train=TrainOverrides(batch_size=2),
    )


OPTIONS = {"ranks": (2,), "presets": ("voice",), "steps": 2, "holdout": 0.3, "seed": 5}


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory, assets: dict[str, Path]):
    from rvclora.sweep.stage import SweepRequest, run_sweep
    from rvclora.sweep.variants import SweepOptions

    root = tmp_path_factory.mktemp("sweep_ws")
    raw = _raw(root / "raw", 3)
    ws = root / "voice"
    summary = run_sweep(SweepRequest(ws, _workspace(ws, raw, assets), SweepOptions(**OPTIONS)))
    return ws, raw, summary.to_json()


@pytest.mark.slow
def test_sweep_trains_every_variant_apart_from_the_workspace_outputs(swept) -> None:
    from rvclora.lora.adapter import read_adapter

    ws, _, summary = swept
    names = [v["name"] for v in summary["variants"]]
    assert names == ["embedding", "voice-r2", "full"]
    assert summary["steps"] == 2 and summary["seed"] == 5 and len(summary["held_out_sources"]) == 1
    for v in summary["variants"]:
        assert v["steps"] == 2 and v["bytes"] == Path(v["output"]).stat().st_size > 0
        assert Path(v["output"]).parent == ws / "sweep" / v["name"] / "adapters"
        assert v["metrics"]["mcd_db"] is not None and v["metrics"]["mcd_db"] > 0
        assert v["metrics"]["spectral_convergence"] is not None
        assert sorted(p.stem for p in (ws / "sweep" / v["name"] / "heldout").glob("*.wav")) == summary["held_out_clips"]
        assert list((ws / "sweep" / v["name"] / "logs").glob("events.out.tfevents*"))  # curves per variant
    floor, lora, full = summary["variants"]
    tensors, _ = read_adapter(floor["output"])
    assert set(tensors) == {"emb_g.lora_A", "emb_g.lora_B"}  # the floor moves only the speaker embedding
    assert floor["bytes"] < lora["bytes"] < full["bytes"]
    assert floor["gain_mcd_pct"] == pytest.approx(0.0) and full["gain_mcd_pct"] == pytest.approx(100.0)
    assert not (ws / "adapters").exists() and not (ws / "checkpoints").exists()  # the workspace's own outputs


@pytest.mark.slow
def test_sweep_reuses_finished_variants_and_resumes_a_stopped_one(swept, assets: dict[str, Path]) -> None:
    from rvclora.sweep.stage import SweepRequest, run_sweep
    from rvclora.sweep.variants import SweepOptions

    ws, raw, first = swept
    (ws / "sweep" / "voice-r2" / "result.json").unlink()  # stopped after training voice-r2, before scoring it
    seen: list[tuple[str, bool]] = []
    again = run_sweep(
        SweepRequest(ws, options=SweepOptions(**OPTIONS)),
        on_variant=lambda i, n, v, reused: seen.append((v.name, reused)),
    ).to_json()
    assert seen == [("embedding", True), ("voice-r2", False), ("full", True)]
    assert [v["reused"] for v in again["variants"]] == [True, False, True]
    # the stopped variant resumed from its finished checkpoint instead of training again: same numbers
    for a, b in zip(first["variants"], again["variants"], strict=True):
        assert a["metrics"]["mcd_db"] == pytest.approx(b["metrics"]["mcd_db"], rel=1e-6)
        assert a["train_seconds"] == b["train_seconds"]
    # other settings retrain: a finished variant is reused only for the same steps
    changed = run_sweep(
        SweepRequest(ws, options=SweepOptions(**{**OPTIONS, "steps": 3, "full": False, "ranks": (2,)})),
        on_variant=lambda i, n, v, reused: seen.append((v.name, reused)),
    )
    assert seen[3:] == [("embedding", False), ("voice-r2", False)]
    assert [v.steps for v in changed.variants] == [3, 3]


def test_sweep_with_one_recording_is_one_line_exit_2(tmp_path: Path, assets: dict[str, Path], capsys) -> None:
    from rvclora.cli import main

    raw = _raw(tmp_path / "raw", 1)
    ws = tmp_path / "voice"
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "sweep",
                str(ws),
                "--input",
                str(raw),
                "--base",
                str(assets["base"]),
                "--hubert",
                str(assets["hubert"]),
                "--f0-method",
                "dio",
                "--steps",
                "2",
            ]
        )
    assert stop.value.code == 2
    line = capsys.readouterr().err.strip()
    assert line.count("\n") == 0 and "at least 2 source recordings" in line, line
    assert not (ws / "sweep").exists() and not (ws / "clips").exists()  # failed before any work


@pytest.mark.slow
def test_training_that_stops_at_an_epoch_end_resumes_as_finished(tmp_path: Path, reference_dir: Path) -> None:
    """--max-steps on an epoch boundary (every sweep variant on a small workspace) keeps its final
    checkpoint, so running again reuses it instead of training from scratch."""
    from helpers_train import make_dataset, make_job

    from rvclora.train.loop import run_training

    make_dataset(tmp_path, n_clips=4)  # batch 2 → 2 steps per epoch
    job = make_job(tmp_path, reference_dir, epochs=5, max_steps=2, save_every=10)
    first = run_training(job)
    assert first.steps == 2 and first.stopped == "max_steps"
    assert [p.name for p in (tmp_path / "checkpoints").glob("state_*.pt")] == ["state_e00001_s00000002.pt"]
    again = run_training(job)
    assert again.stopped == "already_finished" and again.steps == 2 and again.output == first.output
