"""Fast checks of the quality benchmark that need none of its system packages: its refusal without them, and
a fresh base that hears its F0 input (a near-zero draw of the NSF source's merge layer once made every render
of the world a constant ~100 Hz buzz, F0 RMSE ~960 cents whatever the model)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

QUALITY = Path(__file__).resolve().parents[2] / "benchmarks" / "quality"


@pytest.fixture()
def quality_modules():
    sys.path.insert(0, str(QUALITY))
    try:
        import run
        import world

        yield run, world
    finally:
        sys.path.remove(str(QUALITY))


@pytest.mark.slow
def test_fresh_base_decoder_follows_its_f0(quality_modules, tmp_path: Path) -> None:
    from rvclora.models.checkpoint import load_synthesizer
    from rvclora.models.config import standard_config
    from rvclora.models.noise import without_noise

    run, world = quality_modules
    config = standard_config("v2", 40000, True).replace(**run.SCALES["quick"].widths)
    path = tmp_path / "init_G.pth"
    world.init_generator(path, config, seed=0)  # seed 0 draws a merge weight of -0.0075 by default
    dec = load_synthesizer(path).dec
    torch.manual_seed(0)
    z, g = torch.randn(1, config.inter_channels, 20), torch.randn(1, config.gin_channels, 1)
    f0 = torch.full((1, 20), 150.0)
    with torch.no_grad(), without_noise():
        low, high = dec(z, f0, g=g), dec(z, 2 * f0, g=g)
    # a dead source leaves the audio unchanged (difference ~1e-6 of a 0.3 peak); a live one moves it
    assert (low - high).abs().max() > 0.05 * low.abs().max()


def test_benchmark_without_its_programs_is_one_line_exit_2(
    quality_modules, tmp_path: Path, monkeypatch, capsys
) -> None:
    run, _ = quality_modules
    monkeypatch.setattr(run, "missing_tools", lambda voices: ["espeak-ng"])
    work = tmp_path / "work"
    assert run.main(["--scale", "quick", "--work", str(work), "--json", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "apt-get install -y flite espeak-ng festival" in err
    assert not (tmp_path / "r.json").exists() and not work.exists()


def test_sweep_runs_the_default_rank_first_then_the_rest(quality_modules) -> None:
    run, _ = quality_modules
    assert run.sweep_passes((4, 8)) == [(8,), (4, 8)]  # floor, r8 and full first: the targets' figures
    assert run.sweep_passes((8,)) == [(8,)]
    assert run.sweep_passes((16, 4)) == [(4,), (16, 4)]
