"""rvclora: LoRA voice adapters for RVC.

The public API is imported lazily so that ``import rvclora`` (and ``rvclora --help``) stays instant and
does not import torch until a function that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
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
    from rvclora.features.f0 import load_f0_estimator
    from rvclora.features.hubert import load_content_encoder
    from rvclora.infer.converter import Converter
    from rvclora.lora.adapter import load_lora, save_lora
    from rvclora.lora.config import LoRAConfig
    from rvclora.lora.inject import add_lora, remove_lora
    from rvclora.lora.merge import merge_lora
    from rvclora.models.checkpoint import load_synthesizer, save_rvc_model
    from rvclora.realtime.settings import StreamSettings
    from rvclora.realtime.stream import Stream


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'rvclora' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
