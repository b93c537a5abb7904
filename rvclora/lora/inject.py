"""Walk a model, wrap the layers a LoRAConfig targets, and undo it.

The injector only decides *where*; what a wrapped layer computes lives in ``layers.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from torch import nn

from rvclora.errors import ConfigError, IncompatibleError
from rvclora.lora.config import LoRAConfig, path_matches
from rvclora.lora.fingerprint import base_fingerprint
from rvclora.lora.layers import LoRALayer, wrapper_class

# Per-model bookkeeping: the config, the base fingerprint taken before training, the AdapterMeta of a loaded
# adapter (its info and unknown keys survive a re-save) and the parameters add_lora froze (remove_lora thaws
# exactly those).
_STATE_ATTR = "_rvclora"

M = TypeVar("M", bound=nn.Module)  # strip_wrappers returns the model it was given, typed as such


def lora_state(model: nn.Module) -> dict[str, Any]:
    """The bookkeeping dict kept on ``model`` (created empty if absent)."""
    state = model.__dict__.get(_STATE_ATTR)
    if state is None:
        state = {}
        model.__dict__[_STATE_ATTR] = state
    return state


def lora_layers(model: nn.Module) -> Iterator[tuple[str, LoRALayer]]:
    """``(module path, wrapper)`` for every LoRA wrapper in ``model``."""
    for path, module in model.named_modules():
        if isinstance(module, LoRALayer):
            yield path, module


def candidate_layers(model: nn.Module) -> list[str]:
    """Paths of every layer LoRA could wrap (outside existing wrappers)."""
    inside = [p + "." for p, _ in lora_layers(model)]
    return [
        path
        for path, module in model.named_modules()
        if path and wrapper_class(module) is not None and not any(path.startswith(p) for p in inside)
    ]


def replace_module(model: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, name, new)


def full_module_params(model: nn.Module, config: LoRAConfig) -> list[str]:
    """Names of the parameters belonging to ``config.full_modules`` (trained whole, stored whole)."""
    paths = [p for p, _ in model.named_modules() if p and config.is_full_module(p)]
    if config.full_modules and not paths:
        raise ConfigError(
            f"full module(s) {', '.join(config.full_modules)} not found in the model",
            "check full_modules in the LoRA settings",
        )
    return [n for n, _ in model.named_parameters() if config.is_full_module(n.rpartition(".")[0])]


def add_lora(model: nn.Module, config: LoRAConfig) -> list[str]:
    """Wrap every targeted layer of ``model`` in place; freeze the rest except ``full_modules``.

    Returns the wrapped module paths. A target pattern that selects nothing is a ConfigError: it is almost
    always a typo, and training an adapter that silently covers less than asked wastes hours.
    """
    if any(True for _ in lora_layers(model)):
        raise IncompatibleError("the model already has a LoRA adapter attached", "merge or remove it first")
    candidates = [
        p
        for p in candidate_layers(model)
        if not config.is_full_module(p) and p != "enc_q" and not p.startswith("enc_q.")  # enc_q: training only
    ]
    missing = config.unmatched_patterns(candidates)
    if missing:
        raise ConfigError(
            f"LoRA target pattern(s) {', '.join(missing)} match no Linear/Embedding/Conv1d/ConvTranspose1d layer",
            "check the targets (module paths like dec.ups.*) or pick a preset",
        )
    trainable = set(full_module_params(model, config))
    fingerprint = base_fingerprint(model)
    wrapped = [p for p in candidates if config.matches(p)]
    if not wrapped:
        raise ConfigError("the LoRA targets select no layer (all excluded)", "loosen the exclude patterns")
    shaped = [p for p in (*config.rank_pattern, *config.alpha_pattern) if not any(path_matches(w, p) for w in wrapped)]
    if shaped:
        raise ConfigError(
            f"LoRA rank/alpha pattern(s) {', '.join(dict.fromkeys(shaped))} match no targeted layer",
            "check the module paths in rank_pattern / alpha_pattern",
        )
    frozen = []
    for name, param in model.named_parameters():
        if name not in trainable and param.requires_grad:
            param.requires_grad_(False)
            frozen.append(name)
    for path in wrapped:
        base = model.get_submodule(path)
        cls = wrapper_class(base)
        assert cls is not None  # every candidate layer has a wrapper
        replace_module(model, path, cls(base, config.rank_for(path), config.scale_for(path), config.dropout))
    lora_state(model).update(config=config, base_fingerprint=fingerprint, frozen=frozen, metadata=None)
    return wrapped


def remove_lora(model: M) -> M:
    """Put every base layer back (unmerging first) and thaw what add_lora froze. Returns ``model``."""
    return strip_wrappers(model, bake=False)


def strip_wrappers(model: M, bake: bool) -> M:
    """Replace each wrapper by its base, merged (``bake``) or unmerged, and forget the LoRA bookkeeping."""
    for path, layer in list(lora_layers(model)):
        if bake:
            layer.merge()
        else:
            layer.unmerge()
        replace_module(model, path, layer.base)
    frozen = set(lora_state(model).get("frozen", ()))
    for name, param in model.named_parameters():
        if name in frozen:
            param.requires_grad_(True)
    model.__dict__.pop(_STATE_ATTR, None)
    return model
