"""The decoder tile as an onnxruntime session (``--backend onnx``).

Exported once per weights: the file name is a fingerprint of the decoder's tensors (the merged adapter
weights included) and of the torch version, under the user cache folder (``$XDG_CACHE_HOME/rvclora/onnx``,
else ``~/.cache/rvclora/onnx``), written atomically so concurrent runs never read half a file. The exported
graph is :func:`rvclora.infer.fast._decode_tile` with a dynamic time axis, so tiles of any length run on it.

Every Conv1d/ConvTranspose1d is exported as its 2-D equivalent of height 1 (:func:`as_2d`): onnxruntime's
NCHWc layout transformer (blocked channels, MLAS' direct convolution kernels with the bias and activation
fused) only takes 4-D convolutions, and on the full-size v2-40k decoder that measured 12-20 % faster than
the 1-D graph (benchmarks/RESULTS.md). The numbers are the same convolutions: equal to torch within float
rounding.
"""

from __future__ import annotations

import copy
import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rvclora.fileio import atomic_write
from rvclora.infer.fast import _decode_tile
from rvclora.lora.layers import LoRALayer, computed_weight
from rvclora.models.generator import Generator

#: bump when the exported graph changes, so old cache files are not reused (2: 2-D convolutions)
EXPORT_VERSION = 2
OPSET = 17


def cache_dir() -> Path:
    """Where exported decoders are kept."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rvclora" / "onnx"


def fingerprint(dec: nn.Module) -> str:
    """A digest of every tensor of ``dec`` (names, shapes, dtypes, values) and of what shapes the graph."""
    h = hashlib.sha256(f"v{EXPORT_VERSION} opset{OPSET} torch{torch.__version__}".encode())
    for name, tensor in sorted(dec.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:32]


def _conv_2d(conv: nn.Conv1d | nn.ConvTranspose1d, weight: torch.Tensor) -> nn.Conv2d | nn.ConvTranspose2d:
    """The 2-D layer of height 1 that computes ``conv`` (with ``weight``) on ``[B, C, 1, T]``."""
    k, s, d = conv.kernel_size[0], conv.stride[0], conv.dilation[0]
    p = int(conv.padding[0])  # the decoder's paddings are numbers (no "same")
    bias = conv.bias is not None
    layer: nn.Conv2d | nn.ConvTranspose2d
    if isinstance(conv, nn.ConvTranspose1d):
        op = conv.output_padding[0]
        layer = nn.ConvTranspose2d(
            conv.in_channels, conv.out_channels, (1, k), (1, s), (0, p), (0, op), conv.groups, bias, (1, d)
        )
    else:
        layer = nn.Conv2d(conv.in_channels, conv.out_channels, (1, k), (1, s), (0, p), (1, d), conv.groups, bias)
    with torch.no_grad():
        layer.weight.copy_(weight.detach().unsqueeze(2))
        if layer.bias is not None and conv.bias is not None:
            layer.bias.copy_(conv.bias.detach())
    return layer


def as_2d(dec: Generator) -> Generator:
    """A copy of ``dec`` whose 1-D convolutions are their 2-D twins of height 1.

    The copy decodes ``[B, C, 1, T]`` tensors with :func:`~rvclora.infer.fast._decode_tile` unchanged (every
    other step is elementwise); ``dec`` itself is not modified. An attached, unmerged adapter (a blend) becomes
    one layer with the merged weight W + ΔW (the same weights; float rounding of the sum only).
    """
    twin = copy.deepcopy(dec)
    for parent in list(twin.modules()):
        for name, child in list(parent.named_children()):
            conv = child.base if isinstance(child, LoRALayer) else child
            if isinstance(conv, nn.Conv1d | nn.ConvTranspose1d):
                setattr(parent, name, _conv_2d(conv, computed_weight(child).to(conv.weight.dtype)))
    return twin


class _Tile(nn.Module):
    """The traced function: one decoder tile, inputs as the fast path passes them (``[B, C, T]``).

    ``two_d``: ``dec`` is :func:`as_2d`'s twin, so inputs get a height axis and the output loses it again.
    """

    def __init__(self, dec: Generator, with_source: bool, with_speaker: bool, two_d: bool) -> None:
        super().__init__()
        self.dec, self.with_source, self.with_speaker, self.two_d = dec, with_source, with_speaker, two_d

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.two_d:
            inputs = tuple(t.unsqueeze(2) for t in inputs)
        x, rest = inputs[0], list(inputs[1:])
        har = rest.pop(0) if self.with_source else None
        g = rest.pop(0) if self.with_speaker else None
        out = _decode_tile(self.dec, x, har, g)
        return out.squeeze(2) if self.two_d else out


def input_names(dec: Generator) -> list[str]:
    """The exported graph's inputs: har and g only where the decoder takes them."""
    return ["x"] + (["har"] if dec.has_source else []) + (["g"] if getattr(dec, "cond", None) is not None else [])


def _example_inputs(dec: Generator, with_speaker: bool) -> tuple[list[str], tuple[torch.Tensor, ...], dict]:
    frames = 8
    names, inputs = ["x"], [torch.zeros(1, dec.conv_pre.in_channels, frames)]
    axes: dict[str, dict[int, str]] = {"x": {2: "frames"}, "audio": {2: "samples"}}
    if dec.has_source:
        names.append("har")
        inputs.append(torch.zeros(1, 1, frames * dec.upp))
        axes["har"] = {2: "samples"}
    if with_speaker:
        names.append("g")
        inputs.append(torch.zeros(1, dec.cond.in_channels, 1))
    return names, tuple(inputs), axes


def export(dec: Generator, path: Path, two_d: bool = True) -> None:
    """Write ``dec``'s tile graph to ``path`` (atomically).

    ``two_d=False``: the plain 1-D graph (EXPORT_VERSION 1), kept for benchmarks/synthesis_speed.py to compare.
    """
    with_speaker = getattr(dec, "cond", None) is not None
    names, inputs, axes = _example_inputs(dec, with_speaker)
    tile = _Tile(as_2d(dec) if two_d else dec, dec.has_source, with_speaker, two_d).eval()
    with atomic_write(path) as tmp, warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            tile,
            inputs,
            str(tmp),
            input_names=names,
            output_names=["audio"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


class OnnxTileDecoder:
    """Callable like :func:`rvclora.infer.fast._decode_tile` without the decoder argument."""

    def __init__(self, path: Path, names: list[str]) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        # no busy-waiting between calls: a stream is idle between blocks, and the CPU may be shared
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path, self.names = path, names
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @classmethod
    def load(cls, dec: Generator) -> OnnxTileDecoder:
        """The session for ``dec``'s current weights, exporting them first unless cached."""
        path = cache_dir() / f"decoder-{fingerprint(dec)}.onnx"
        if not path.is_file():
            export(dec, path)
        return cls(path, input_names(dec))

    def __call__(self, x: torch.Tensor, har: torch.Tensor | None, g: torch.Tensor | None) -> torch.Tensor:
        values = {"x": x, "har": har, "g": g}
        feed: dict[str, Any] = {}
        for name in self.names:  # the graph's inputs: har and g only where the decoder takes them
            value = values[name]
            assert value is not None, f"the exported decoder needs {name}"
            feed[name] = value.float().contiguous().numpy()
        return torch.from_numpy(self.session.run(None, feed)[0])
