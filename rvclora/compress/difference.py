"""Split voice − base into low-rank layer changes and small tensors stored whole.

Targeted layers (the LoRA-able Linear/Embedding/Conv1d/ConvTranspose1d modules a :class:`LoRAConfig` selects)
are compared on their *effective* weights, g·v/‖v‖ for weight-normed ones: two different (g, v) pairs can
compute the same weight, and the adapter adds to the effective weight anyway. Every other tensor that differs
(biases, layer norms, relative position embeddings, the speaker embedding, untargeted layers) is kept whole
under ``full.<key>``: it is exact, and all of them together are small next to the low-rank part.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rvclora.compress.factor import CONV_T, Layout, Spectrum
from rvclora.errors import IncompatibleError
from rvclora.lora.config import LoRAConfig
from rvclora.lora.inject import candidate_layers
from rvclora.lora.layers import cheaper_order, wrapper_class
from rvclora.lora.weights import effective_weight

WEIGHT_KEYS = ("weight", "weight_g", "weight_v")


@dataclass
class LayerChange:
    """One targeted layer: its layout, the SVD of its ΔW and how big ΔW is next to the base weight."""

    path: str
    layout: Layout
    spectrum: Spectrum
    rel_diff: float  # ‖ΔW‖ / ‖W_base‖


@dataclass
class Difference:
    layers: list[LayerChange]
    full: dict[str, torch.Tensor]  # state_dict key → the voice's tensor (fp32)
    unchanged_layers: int  # targeted layers whose effective weight is identical

    @property
    def median_rel_diff(self) -> float:
        values = sorted(c.rel_diff for c in self.layers)
        return values[len(values) // 2] if values else 0.0


def _inference_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if not k.startswith("enc_q.")}


def check_same_architecture(voice: nn.Module, base: nn.Module) -> None:
    """Refuse a voice whose version, rate, pitch flag or tensor shapes differ from the base's."""
    vc, bc = getattr(voice, "config", None), getattr(base, "config", None)
    for field in ("version", "sr", "f0"):
        a, b = getattr(vc, field, None), getattr(bc, field, None)
        if a != b:
            raise IncompatibleError(
                f"the voice is {field} {a} but the base is {field} {b}",
                "give the pretrained base of the same version, rate and pitch setting",
            )
    vs, bs = _inference_state(voice), _inference_state(base)
    odd = sorted(set(vs) ^ set(bs)) + [k for k in vs if k in bs and vs[k].shape != bs[k].shape]
    if odd:
        raise IncompatibleError(
            f"the voice and the base have different tensors (e.g. {odd[0]}, {len(odd)} in all)",
            "give the pretrained base the voice was trained from",
        )


def targeted_layers(model: nn.Module, config: LoRAConfig) -> list[str]:
    """Module paths a LoRA adapter of ``config`` would wrap (full modules and enc_q excluded)."""
    return [p for p in candidate_layers(model) if config.matches(p) and not config.is_full_module(p)]


def _layout(module: nn.Module, weight: torch.Tensor) -> Layout:
    cls = wrapper_class(module)
    assert cls is not None  # only targeted layers are laid out
    kind = cls.kind
    order = cheaper_order(module) if kind == CONV_T and isinstance(module, nn.ConvTranspose1d) else None
    return Layout(kind, tuple(weight.shape), order)


def _differs(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Different as stored in an fp16 file (both sides rounded the same way)."""
    if a.is_floating_point():
        return not torch.equal(a.to(torch.float16), b.to(torch.float16))
    return not torch.equal(a, b)


@torch.no_grad()
def split_difference(voice: nn.Module, base: nn.Module, config: LoRAConfig) -> Difference:
    """voice − base as per-layer spectra (targeted layers) plus whole tensors (everything else that differs)."""
    check_same_architecture(voice, base)
    paths = targeted_layers(base, config)
    layers, unchanged = [], 0
    covered: set[str] = set()
    for path in paths:
        b_mod, v_mod = base.get_submodule(path), voice.get_submodule(path)
        w_base = effective_weight(b_mod).to(torch.float32)
        delta = effective_weight(v_mod).to(torch.float32) - w_base
        covered.update(f"{path}.{k}" for k in WEIGHT_KEYS)
        layout = _layout(b_mod, w_base)
        spectrum = Spectrum.of(layout.to_matrix(delta))
        if spectrum.max_rank == 0:
            unchanged += 1
            continue
        base_norm = float(w_base.norm())
        layers.append(LayerChange(path, layout, spectrum, spectrum.norm / base_norm if base_norm > 0 else float("inf")))
    vs, bs = _inference_state(voice), _inference_state(base)
    full = {k: v.detach().to(torch.float32).clone() for k, v in vs.items() if k not in covered and _differs(v, bs[k])}
    return Difference(layers, full, unchanged)
