"""One precision resolver for extract, infer and train (rvclora.devices.resolve_precision)."""

from __future__ import annotations

import pytest
import torch

from rvclora.choices import Precision
from rvclora.devices import resolve_precision
from rvclora.errors import ConfigError


@pytest.mark.parametrize("training", [False, True])
def test_auto_is_fp32_off_cuda(training: bool) -> None:
    for device in ("cpu", torch.device("cpu"), "mps"):
        assert resolve_precision("auto", device, training=training) is Precision.fp32
    assert resolve_precision(None, "cpu", training=training) is Precision.fp32
    assert resolve_precision("FP32", "cpu", training=training) is Precision.fp32


def test_half_off_cuda_is_for_inference_only() -> None:
    assert resolve_precision("bf16", "cpu") is Precision.bf16  # e.g. bf16 content features on a CPU
    assert resolve_precision("fp16", "cpu") is Precision.fp16
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU; cpu trains in fp32"):
        resolve_precision("fp16", torch.device("cpu"), training=True)


@pytest.mark.parametrize("has_bf16", [True, False])
def test_auto_on_cuda_follows_the_stage(monkeypatch: pytest.MonkeyPatch, has_bf16: bool) -> None:
    """Extraction and conversion use fp16 as RVC's is_half; training prefers bf16 where the GPU has it."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: has_bf16)
    assert resolve_precision("auto", "cuda:0") is Precision.fp16
    assert resolve_precision("auto", "cuda:0", training=True) is (Precision.bf16 if has_bf16 else Precision.fp16)
    if has_bf16:
        assert resolve_precision("bf16", "cuda:1", training=True) is Precision.bf16
    else:
        with pytest.raises(ConfigError, match="does not support bf16"):
            resolve_precision("bf16", "cuda:0")


def test_unknown_precision_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="unknown precision 'fp8'") as info:
        resolve_precision("fp8", "cpu")
    assert info.value.hint == "use one of: auto, fp32, fp16, bf16"


def test_the_stages_use_it() -> None:
    from rvclora.train.precision import choose_precision

    assert choose_precision("auto", torch.device("cpu")).name == "fp32"
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        choose_precision("bf16", torch.device("cpu"))
