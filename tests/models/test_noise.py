"""rvclora.models.noise: torch's draws outside the switch, zeros inside it, and only in the thread that set it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from models_helpers import reference

from rvclora.models import noise
from rvclora.models.checkpoint import load_synthesizer


def _draws() -> tuple[torch.Tensor, torch.Tensor]:
    return noise.randn_like(torch.empty(3, 4, dtype=torch.float64)), noise.rand(2, 5, device="cpu")


def test_draws_outside_the_block_are_torchs() -> None:
    torch.manual_seed(11)
    want = torch.randn_like(torch.empty(3, 4, dtype=torch.float64)), torch.rand(2, 5, device="cpu")
    torch.manual_seed(11)
    got = _draws()
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and torch.equal(g, w)
    assert noise.noise_enabled()


def test_draws_inside_the_block_are_zeros_and_nesting_restores() -> None:
    with noise.without_noise():
        with noise.without_noise():
            pass
        assert not noise.noise_enabled()  # leaving the inner block keeps the outer one's mode
        randn, rand = _draws()
    assert randn.dtype == torch.float64 and randn.shape == (3, 4) and rand.shape == (2, 5)
    assert not randn.any() and not rand.any()
    assert noise.noise_enabled() and _draws()[0].abs().sum() > 0


def test_switch_is_per_thread() -> None:
    """A thread inside without_noise() leaves this thread's draws random, and vice versa."""
    inside, drawn = threading.Event(), threading.Event()
    seen: dict[str, torch.Tensor] = {}

    def silent() -> None:
        with noise.without_noise():
            inside.set()
            drawn.wait(timeout=10)  # hold the block open while the main thread draws
            seen["silent"] = noise.randn_like(torch.empty(64))

    worker = threading.Thread(target=silent)
    worker.start()
    try:
        assert inside.wait(timeout=10)
        seen["main"] = noise.randn_like(torch.empty(64))
    finally:
        drawn.set()
        worker.join(timeout=10)
    assert seen["main"].abs().sum() > 0  # global patching of torch.randn_like would have given zeros here
    assert not seen["silent"].any()


@pytest.fixture(scope="module")
def model_and_inputs(reference_dir: Path):
    name = "v2_40k_f0_tiny"
    _, a = reference(reference_dir, name)
    inputs = (a["in_phone"], a["in_phone_lengths"], a["in_sid"])
    return load_synthesizer(reference_dir / f"{name}.pth"), inputs, {"pitch": a["in_pitch"], "nsff0": a["in_pitchf"]}


def _audio(model: torch.nn.Module, inputs: tuple, kwargs: dict) -> torch.Tensor:
    with torch.no_grad():
        return model.run_infer(*inputs, **kwargs)[0]


def test_forward_without_noise_is_deterministic(model_and_inputs) -> None:
    model, inputs, kwargs = model_and_inputs
    with noise.without_noise():
        first, second = _audio(model, inputs, kwargs), _audio(model, inputs, kwargs)
    assert torch.equal(first, second)
    assert float((_audio(model, inputs, kwargs) - first).abs().max()) > 1e-4  # with noise, the output moves
