"""One LoRA wrapper per base layer type.

Each wrapper holds the original layer as ``.base`` and adds a low-rank branch ``scale · B(A(dropout(x)))``.
``lora_A`` is always the factor applied to the input first and ``lora_B`` the second (zero at init, so a
fresh adapter changes nothing). ``delta_weight()`` is the single source of truth for what the branch adds to
the base weight; merge, unmerge, blending and export all use it.

The base's state_dict keys stay upstream's: ``dec.ups.0.weight_g``, not ``dec.ups.0.base.weight_g``. Two hooks
rename on the way out and on the way in, so checkpoints written with an adapter attached still load into RVC.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from torch import nn

from rvclora.lora.weights import effective_weight, set_effective_weight

LORA_PARAMS = ("lora_A", "lora_B")
# Transposed-conv factor orders (see LoRAConvTranspose1d).
TRANSPOSED_FIRST = "transposed_first"
POINTWISE_FIRST = "pointwise_first"


def _expose_base_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: Any) -> None:
    """state_dict post-hook: ``<prefix>base.<key>`` → ``<prefix><key>``, base keys first in their order."""
    nested = prefix + "base."
    mine = [k for k in state_dict if k.startswith(prefix)]  # this module's keys are the last ones added
    values = {k: state_dict.pop(k) for k in mine}
    for key in sorted(mine, key=lambda k: not k.startswith(nested)):  # stable: base keys, then LoRA keys
        state_dict[prefix + key[len(nested) :] if key.startswith(nested) else key] = values[key]


def _nest_base_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
    """load pre-hook: upstream keys go to ``.base``; a missing LoRA factor keeps its current value."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        local = key[len(prefix) :]
        if not local.startswith(("base.", "lora_", "dropout.")):
            state_dict[prefix + "base." + local] = state_dict.pop(key)
    for name in LORA_PARAMS:
        state_dict.setdefault(prefix + name, getattr(module, name).detach())


class LoRALayer(nn.Module):
    """Common part: the base layer, the two factors, scale, dropout and the explicit merge state."""

    kind: ClassVar[str]

    def __init__(self, base: nn.Module, rank: int, scale: float = 1.0, dropout: float = 0.0) -> None:
        super().__init__()
        self.base = base
        self.rank = rank
        self.scale = scale
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False
        ref = effective_weight(base)
        a_shape, b_shape = self.factor_shapes(rank)
        self.lora_A = nn.Parameter(torch.empty(a_shape, dtype=ref.dtype, device=ref.device))
        self.lora_B = nn.Parameter(torch.zeros(b_shape, dtype=ref.dtype, device=ref.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.register_state_dict_post_hook(_expose_base_keys)
        self.register_load_state_dict_pre_hook(_nest_base_keys)

    def __getattr__(self, name: str) -> Any:
        """Attributes the wrapper lacks (``weight``, ``bias``, ``in_channels`` …) are the base layer's, so model
        code that reads them (e.g. a layer's dtype) keeps working with an adapter attached."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "base":
                raise
            return getattr(self.base, name)

    # -- per layer type -------------------------------------------------------------------------------
    def factor_shapes(self, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        raise NotImplementedError

    def lora_forward(self, x: torch.Tensor) -> torch.Tensor:
        """B(A(x)) without scale."""
        raise NotImplementedError

    def _delta(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """B·A folded into the base weight's layout (no scale)."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------------
    def delta_weight(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """scale·ΔW in the base weight's layout, computed in fp32 and cast to ``dtype`` (default: the base's)."""
        delta = self._delta(self.lora_A.to(torch.float32), self.lora_B.to(torch.float32)) * self.scale
        return delta.to(dtype or effective_weight(self.base).dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if self.merged or self.scale == 0:
            return out
        return torch.add(out, self.lora_forward(self.dropout(x)).to(out.dtype), alpha=self.scale)  # one kernel

    @torch.no_grad()
    def merge(self) -> None:
        """Bake the branch into the base weight (idempotent)."""
        if not self.merged:
            w = effective_weight(self.base).to(torch.float32)
            set_effective_weight(self.base, w + self.delta_weight(torch.float32))
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take the branch back out of the base weight (idempotent)."""
        if self.merged:
            w = effective_weight(self.base).to(torch.float32)
            set_effective_weight(self.base, w - self.delta_weight(torch.float32))
            self.merged = False

    def extra_repr(self) -> str:
        return f"kind={self.kind}, rank={self.rank}, scale={self.scale:g}, merged={self.merged}"


class LoRALinear(LoRALayer):
    """W [out, in]: A [r, in], B [out, r]."""

    kind = "linear"
    base: nn.Linear

    def factor_shapes(self, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return (rank, self.base.in_features), (self.base.out_features, rank)

    def lora_forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.linear(x, self.lora_A), self.lora_B)

    def _delta(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return b @ a


class LoRAEmbedding(LoRALayer):
    """W [num, dim]: A [r, num] (looked up by index), B [dim, r]. No dropout: the input is indices."""

    kind = "embedding"
    base: nn.Embedding

    def factor_shapes(self, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return (rank, self.base.num_embeddings), (self.base.embedding_dim, rank)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if self.merged or self.scale == 0:
            return out
        return torch.add(out, self.lora_forward(x).to(out.dtype), alpha=self.scale)

    def lora_forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.embedding(x, self.lora_A.t()), self.lora_B)

    def _delta(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (b @ a).t()


class LoRAConv1d(LoRALayer):
    """W [out, in, k]: A [r, in, k] with the base's full geometry, then B [out, r, 1] pointwise.

    Geometry (stride, padding incl. "same"/"valid", dilation, padding mode) is copied from the base, so the
    branch sees exactly the windows the base sees (dilated resblocks and WN layers included).
    """

    kind = "conv1d"
    base: nn.Conv1d

    def __init__(self, base: nn.Conv1d, rank: int, scale: float = 1.0, dropout: float = 0.0) -> None:
        if base.groups != 1:
            raise ValueError("LoRAConv1d supports groups=1 only")
        self.stride = base.stride
        self.padding = base.padding
        self.dilation = base.dilation
        self.padding_mode = base.padding_mode
        self.reversed_padding = tuple(base._reversed_padding_repeated_twice)
        super().__init__(base, rank, scale, dropout)

    def factor_shapes(self, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return (rank, self.base.in_channels, self.base.kernel_size[0]), (self.base.out_channels, rank, 1)

    def lora_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding_mode != "zeros":
            x = F.pad(x, self.reversed_padding, mode=self.padding_mode)
            h = F.conv1d(x, self.lora_A, None, self.stride, 0, self.dilation)
        else:
            h = F.conv1d(x, self.lora_A, None, self.stride, self.padding, self.dilation)
        return F.conv1d(h, self.lora_B)

    def _delta(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.einsum("or,rik->oik", b[:, :, 0], a)


class LoRAConvTranspose1d(LoRALayer):
    """W [in, out, k] (torch's transposed layout). Two exact rank-r factorisations:

    - ``transposed_first``: A [in, r, k] is a transposed conv with the base geometry, B [out, r, 1] pointwise;
      r·(in·k + out) parameters.
    - ``pointwise_first``: A [r, in, 1] pointwise, B [r, out, k] a transposed conv with the base geometry;
      r·(in + out·k) parameters — fewer when channels shrink, as in RVC's upsamplers.

    By default the cheaper order is chosen per layer; adapter files record it.
    """

    kind = "conv_transpose1d"
    base: nn.ConvTranspose1d

    def __init__(
        self,
        base: nn.ConvTranspose1d,
        rank: int,
        scale: float = 1.0,
        dropout: float = 0.0,
        order: str | None = None,
    ) -> None:
        if base.groups != 1:
            raise ValueError("LoRAConvTranspose1d supports groups=1 only")
        self.order = order or cheaper_order(base)
        self.stride = base.stride
        self.padding = cast(tuple[int, ...], base.padding)  # a transposed conv has no string padding
        self.output_padding = base.output_padding
        self.dilation = base.dilation
        super().__init__(base, rank, scale, dropout)

    def factor_shapes(self, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        cin, cout, k = self.base.in_channels, self.base.out_channels, self.base.kernel_size[0]
        if self.order == TRANSPOSED_FIRST:
            return (cin, rank, k), (cout, rank, 1)
        return (rank, cin, 1), (rank, cout, k)

    def _transposed(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose1d(x, weight, None, self.stride, self.padding, self.output_padding, 1, self.dilation)

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None:
            raise ValueError("LoRAConvTranspose1d does not support output_size")
        return super().forward(x)

    def lora_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.order == TRANSPOSED_FIRST:
            return F.conv1d(self._transposed(x, self.lora_A), self.lora_B)
        return self._transposed(F.conv1d(x, self.lora_A), self.lora_B)

    def _delta(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.order == TRANSPOSED_FIRST:
            return torch.einsum("irk,or->iok", a, b[:, :, 0])
        return torch.einsum("ri,rok->iok", a[:, :, 0], b)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, order={self.order}"


def cheaper_order(base: nn.ConvTranspose1d) -> str:
    """The transposed-conv factor order with fewer parameters (pointwise-first on a tie)."""
    cin, cout, k = base.in_channels, base.out_channels, base.kernel_size[0]
    return POINTWISE_FIRST if cin + cout * k <= cin * k + cout else TRANSPOSED_FIRST


def rank_dims(kind: str, order: str | None = None) -> tuple[int, int]:
    """Which dimension of lora_A and of lora_B is the rank, for a layer kind (and transposed-conv order)."""
    if kind == LoRAConvTranspose1d.kind:
        if order not in (TRANSPOSED_FIRST, POINTWISE_FIRST):
            raise ValueError(f"unknown transposed-conv factor order {order!r}")
        return (1, 1) if order == TRANSPOSED_FIRST else (0, 0)
    return 0, 1


def wrapper_class(module: nn.Module) -> type[LoRALayer] | None:
    """The wrapper for ``module``, or None if LoRA does not apply (Conv2d, grouped convs, norms, ...)."""
    if isinstance(module, LoRALayer):
        return None
    if isinstance(module, nn.ConvTranspose1d):
        return LoRAConvTranspose1d if module.groups == 1 else None
    if isinstance(module, nn.Conv1d):
        return LoRAConv1d if module.groups == 1 else None
    if isinstance(module, nn.Linear):
        return LoRALinear
    if isinstance(module, nn.Embedding):
        return LoRAEmbedding
    return None


WRAPPERS: dict[str, type[LoRALayer]] = {
    cls.kind: cls for cls in (LoRALinear, LoRAEmbedding, LoRAConv1d, LoRAConvTranspose1d)
}


def computed_weight(layer: nn.Module) -> torch.Tensor:
    """The fp32 weight ``layer`` computes with: weight norm applied, and for an adapter layer the base weight
    plus scale·ΔW unless it is merged (a blend's exact weight). What an engine that runs the layer's
    arithmetic itself (onnx export, packed oneDNN kernels) takes, never to be written back."""
    if isinstance(layer, LoRALayer):
        weight = effective_weight(layer.base).to(torch.float32)
        return weight if layer.merged or layer.scale == 0 else weight + layer.delta_weight(torch.float32)
    return effective_weight(layer).to(torch.float32)
