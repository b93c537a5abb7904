"""rvclora: LoRA voice adapters for RVC.

The public API is imported lazily so that ``import rvclora`` (and ``rvclora --help``) stays instant and
does not import torch until a function that needs it is used.

Every command is one call with the same shape, a typed request in and a typed summary out (progress through
keyword callbacks): ``rvclora.preprocess``, ``extract``, ``train``, ``convert``, ``merge``, ``compress``,
``inspect``, ``evaluate`` and ``sweep``; see docs/api.md. ``train``, ``merge``, ``compress``, ``inspect``,
``evaluate`` and ``sweep`` are also the names of their stage packages, which are made callable for this.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it, or "module:attribute" where the public name differs
_API = {
    # one entry point per command: a typed request in, a typed summary out
    "preprocess": "rvclora.audio.preprocess:run_preprocess",
    "extract": "rvclora.features.extract:run_extract",
    "train": "rvclora.train",  # callable stage packages (rvclora._stage_package)
    "convert": "rvclora.infer.run:run_infer",
    "merge": "rvclora.merge",
    "compress": "rvclora.compress",
    "inspect": "rvclora.inspect",
    "evaluate": "rvclora.evaluate",
    "sweep": "rvclora.sweep",
    "Overrides": "rvclora.workspace.overrides",
    "AssetOverrides": "rvclora.workspace.overrides",
    "PreprocessOverrides": "rvclora.workspace.overrides",
    "ExtractOverrides": "rvclora.workspace.overrides",
    "LoRAOverrides": "rvclora.workspace.overrides",
    "TrainOverrides": "rvclora.workspace.overrides",
    "PreprocessRequest": "rvclora.audio.preprocess",
    "ExtractRequest": "rvclora.features.extract",
    "TrainRequest": "rvclora.train.workflow",
    "InferRequest": "rvclora.infer.run",
    "ConverterConfig": "rvclora.infer.options",
    "ConvertOptions": "rvclora.infer.options",
    "MergeRequest": "rvclora.merge.stage",
    "CompressRequest": "rvclora.compress.stage",
    "CompressOptions": "rvclora.compress.stage",
    "InspectRequest": "rvclora.inspect.stage",
    "EvalRequest": "rvclora.evaluate.run",
    "EvalSettings": "rvclora.evaluate.settings",
    "SweepRequest": "rvclora.sweep.stage",
    "SweepOptions": "rvclora.sweep.variants",
    # building blocks
    "load_synthesizer": "rvclora.models.checkpoint",
    "save_rvc_model": "rvclora.models.checkpoint",
    "LoRAConfig": "rvclora.lora.config",
    "add_lora": "rvclora.lora.inject",
    "remove_lora": "rvclora.lora.inject",
    "merge_lora": "rvclora.lora.merge",
    "save_lora": "rvclora.lora.adapter",
    "load_lora": "rvclora.lora.adapter",
    "load_content_encoder": "rvclora.features.hubert",
    "load_f0_estimator": "rvclora.features.f0",
    "Converter": "rvclora.infer.converter",
    "Stream": "rvclora.realtime.stream",
    "StreamSettings": "rvclora.realtime.settings",
}

__all__ = ["__version__", *_API]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from rvclora.audio.preprocess import PreprocessRequest
    from rvclora.audio.preprocess import run_preprocess as preprocess
    from rvclora.compress.stage import CompressOptions, CompressRequest
    from rvclora.evaluate.run import EvalRequest
    from rvclora.evaluate.settings import EvalSettings
    from rvclora.features.extract import ExtractRequest
    from rvclora.features.extract import run_extract as extract
    from rvclora.features.f0 import load_f0_estimator
    from rvclora.features.hubert import load_content_encoder
    from rvclora.infer.converter import Converter
    from rvclora.infer.options import ConverterConfig, ConvertOptions
    from rvclora.infer.run import InferRequest
    from rvclora.infer.run import run_infer as convert
    from rvclora.inspect.stage import InspectRequest
    from rvclora.lora.adapter import load_lora, save_lora
    from rvclora.lora.config import LoRAConfig
    from rvclora.lora.inject import add_lora, remove_lora
    from rvclora.lora.merge import merge_lora
    from rvclora.merge.stage import MergeRequest
    from rvclora.models.checkpoint import load_synthesizer, save_rvc_model
    from rvclora.realtime.settings import StreamSettings
    from rvclora.realtime.stream import Stream
    from rvclora.sweep.stage import SweepRequest
    from rvclora.sweep.variants import SweepOptions
    from rvclora.train.workflow import TrainRequest
    from rvclora.workspace.overrides import (
        AssetOverrides,
        ExtractOverrides,
        LoRAOverrides,
        Overrides,
        PreprocessOverrides,
        TrainOverrides,
    )


def __getattr__(name: str) -> Any:
    target = _API.get(name)
    if target is None:
        raise AttributeError(f"module 'rvclora' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    if module == f"{__name__}.{name}":  # a callable stage package
        value: Any = importlib.import_module(module)
    else:
        value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value
    return value
