"""Which engine runs the fast path's decoder tiles (``Converter(backend=...)``, ``--backend``).

The decoder is ~85 % of a CPU synthesis (benchmarks/RESULTS.md). Backends run the very same merged, folded
weights; only the engine executing the tile graph differs:

* ``torch``: PyTorch eager, the in-place tiles of :mod:`rvclora.infer.fast` (always available);
* ``onednn``: the same tiles on PyTorch's oneDNN convolutions with weights packed per tile shape, channels-last, with
  fused activations (:mod:`.onednn`) — CPU fp32, nothing to install or export;
* ``onnx``: the tile exported once to ONNX (cached per weights) and run by onnxruntime — measured faster on
  CPU in fp32, equal to ``torch`` within float rounding (extra ``rvclora[onnx]``);
* ``auto``: on CPU in fp32 with the fast path, ``onednn`` (else ``onnx`` where installed); ``torch``
  elsewhere. onednn and onnx measured alike on a quiet 2-core CPU (1.72× vs 1.59× upstream on 2 threads,
  1.66× vs 1.74× on one), and onednn needs no export (up to a minute per new voice) and no cache files.

torch.jit.freeze/optimize_for_inference was measured and not kept (no gain over eager tiles on this CPU).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from rvclora.choices import Backend
from rvclora.errors import ConfigError, MissingExtraError

#: runs one decoder tile: (latent ``[B, C, T]``, NSF source ``[B, 1, T·upp]`` or None, speaker ``[B, gin, 1]``
#: or None) -> audio ``[B, 1, T·upp]``
TileRunner = Callable[[Any, Any, Any], Any]


def onnx_available() -> bool:
    """onnxruntime (and onnx, which the exporter needs) can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def onednn_available() -> bool:
    """This torch build has the oneDNN operators the ``onednn`` backend calls."""
    from rvclora.infer.backends.onednn import onednn_available as available

    return available()


def resolve_backend(requested: str, device: str, dtype_name: str, fast: bool) -> str:
    """The backend a voice runs on: ``requested`` checked, ``auto`` decided (one clear error otherwise).

    ``dtype_name``: "float32", "float16" or "bfloat16"; ``fast``: the fast path is on (``--eager`` is off).
    """
    requested = Backend.parse(requested or "auto").value
    cpu_fp32 = fast and device == "cpu" and dtype_name == "float32"
    if requested == "auto":
        if not cpu_fp32:
            return "torch"
        if onednn_available():
            return "onednn"
        return "onnx" if onnx_available() else "torch"
    if requested in ("onnx", "onednn"):
        if not fast:
            raise ConfigError(f"--backend {requested} runs the fast path", "drop --eager, or use --backend torch")
        if not cpu_fp32:
            raise ConfigError(
                f"--backend {requested} runs on the CPU in fp32 only (here: {device}, {dtype_name})",
                f"use {'' if device == 'cpu' else '--device cpu '}--precision fp32, or --backend torch",
            )
        if requested == "onnx" and not onnx_available():
            raise MissingExtraError("--backend onnx", "onnx", "onnxruntime")
        if requested == "onednn" and not onednn_available():
            raise ConfigError(
                "--backend onednn needs a torch build with oneDNN (mkldnn), which this one lacks",
                "use --backend torch",
            )
    return requested


def tile_runner(backend: str, dec: Any) -> TileRunner | None:
    """The tile runner for a resolved ``backend`` and a folded decoder (None: the torch tiles)."""
    if backend == "onnx":
        from rvclora.infer.backends.onnx_decoder import OnnxTileDecoder

        return OnnxTileDecoder.load(dec)
    if backend == "onednn":
        from rvclora.infer.backends.onednn import OneDnnTileDecoder

        return OneDnnTileDecoder.load(dec)
    return None
