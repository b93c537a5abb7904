"""HuBERT / ContentVec network in plain torch, with fairseq's own parameter names.

Module paths mirror fairseq's ``HubertModel`` (``feature_extractor.conv_layers.{i}.0``, ``encoder.pos_conv.0``,
``encoder.layers.N.self_attn.q_proj`` ...), so a fairseq state_dict loads with ``load_state_dict`` and no renaming;
the Hugging Face layout is renamed onto it by :mod:`rvclora.features.hubert_load`. Dropout and masking are
training-only and left out. Batches of unequal clips are exact: see :meth:`HubertNet.forward`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

_EPS = 1e-5  # LayerNorm / GroupNorm epsilon of fairseq and transformers


@dataclass(frozen=True)
class HubertArch:
    """Architecture numbers (read from the checkpoint's config, never assumed)."""

    conv_layers: tuple[tuple[int, int, int], ...]  # (channels, kernel, stride) per feature conv
    extractor_mode: str  # "default": GroupNorm after conv 0 only; "layer_norm": LayerNorm after every conv
    conv_bias: bool
    embed_dim: int
    ffn_dim: int
    num_layers: int
    num_heads: int
    conv_pos: int
    conv_pos_groups: int
    layer_norm_first: bool  # pre-LN layers (HuBERT large); base/ContentVec are post-LN
    final_dim: int  # width of final_proj (the v1 features); 0 = no final_proj
    post_extract_proj: bool  # fairseq omits it when conv width == embed_dim

    @property
    def conv_dim(self) -> int:
        return self.conv_layers[-1][0]

    def num_frames(self, num_samples: int) -> int:
        """Output frames for a clip: each conv keeps only windows that fit (no padding)."""
        n = num_samples
        for _, kernel, stride in self.conv_layers:
            n = (n - kernel) // stride + 1 if n >= kernel else 0
        return n


class _PosConv(nn.Module):
    """Grouped Conv1d with weight norm over dim 2 (fairseq layout: ``weight_g [1,1,K]``, ``weight_v``).

    The effective weight g·v/‖v‖ is computed directly, not through torch's weight-norm hooks, so the
    parameter names stay fairseq's and no deprecated API is involved. It is computed again only when a
    parameter changed (new storage, as after ``.to()``, or an in-place edit that bumps its version).
    Recomputing it on every call costs two passes over the 4.7M-value weight, about 18 ms on a 2-core CPU.
    """

    def __init__(self, dim: int, kernel: int, groups: int) -> None:
        super().__init__()
        self.groups = groups
        self.padding = kernel // 2
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel))
        self.weight_v = nn.Parameter(torch.randn(dim, dim // groups, kernel) * (dim * kernel) ** -0.5)
        self.bias = nn.Parameter(torch.zeros(dim))
        self._cache: tuple[tuple[object, ...], torch.Tensor] | None = None

    def weight(self) -> torch.Tensor:
        v = self.weight_v.float()
        norm = v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()  # one norm per kernel tap (dim=2)
        return (self.weight_g.float() * v / norm).to(self.weight_v.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and self.weight_v.requires_grad:  # training: the weight must be in the graph
            weight = self.weight()
        else:
            g, v = self.weight_g, self.weight_v
            key = (g.data_ptr(), g._version, v.data_ptr(), v._version, v.dtype)  # .to() moves the storage
            if self._cache is None or self._cache[0] != key:
                with torch.no_grad():
                    self._cache = (key, self.weight())
            weight = self._cache[1]
        return F.conv1d(x, weight, self.bias, padding=self.padding, groups=self.groups)


class _SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (
            p(x).view(b, t, self.heads, d // self.heads).transpose(1, 2)
            for p in (self.q_proj, self.k_proj, self.v_proj)
        )
        # scale = head_dim^-0.5, as fairseq/transformers scale q; key_mask True = a real frame
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
        return self.out_proj(y.transpose(1, 2).reshape(b, t, d))


class _EncoderLayer(nn.Module):
    def __init__(self, arch: HubertArch) -> None:
        super().__init__()
        d = arch.embed_dim
        self.pre_ln = arch.layer_norm_first
        self.self_attn = _SelfAttention(d, arch.num_heads)
        self.self_attn_layer_norm = nn.LayerNorm(d, eps=_EPS)
        self.fc1 = nn.Linear(d, arch.ffn_dim)
        self.fc2 = nn.Linear(arch.ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d, eps=_EPS)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        if self.pre_ln:
            x = x + self.self_attn(self.self_attn_layer_norm(x), key_mask)
            return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))
        x = self.self_attn_layer_norm(x + self.self_attn(x, key_mask))
        return self.final_layer_norm(x + self.fc2(F.gelu(self.fc1(x))))


class _Encoder(nn.Module):
    def __init__(self, arch: HubertArch) -> None:
        super().__init__()
        # Sequential index 0 gives fairseq's key names encoder.pos_conv.0.*; SamePad and GELU have no weights.
        self.pos_conv = nn.Sequential(_PosConv(arch.embed_dim, arch.conv_pos, arch.conv_pos_groups))
        self.drop_last = arch.conv_pos % 2 == 0  # fairseq's SamePad: an even kernel yields one extra step
        self.layer_norm = nn.LayerNorm(arch.embed_dim, eps=_EPS)
        self.layer_norm_first = arch.layer_norm_first
        self.layers = nn.ModuleList(_EncoderLayer(arch) for _ in range(arch.num_layers))


def _conv_block(arch: HubertArch, i: int, in_ch: int) -> nn.Sequential:
    """One feature conv in fairseq's Sequential layout (index 1 = dropout, index 2 = norm, index 3 = GELU)."""
    out_ch, kernel, stride = arch.conv_layers[i]
    conv = nn.Conv1d(in_ch, out_ch, kernel, stride=stride, bias=arch.conv_bias)
    if arch.extractor_mode == "layer_norm":  # keys conv_layers.{i}.2.1.* (TransposeLast, LayerNorm, TransposeLast)
        return nn.Sequential(conv, nn.Identity(), nn.Sequential(nn.Identity(), nn.LayerNorm(out_ch, eps=_EPS)))
    if i == 0:  # keys conv_layers.0.2.* (a GroupNorm with one group per channel)
        return nn.Sequential(conv, nn.Identity(), nn.GroupNorm(out_ch, out_ch, eps=_EPS))
    return nn.Sequential(conv)


class _FeatureExtractor(nn.Module):
    def __init__(self, arch: HubertArch) -> None:
        super().__init__()
        blocks, in_ch = [], 1
        for i, (out_ch, _, _) in enumerate(arch.conv_layers):
            blocks.append(_conv_block(arch, i, in_ch))
            in_ch = out_ch
        self.conv_layers = nn.ModuleList(blocks)
        self.mode = arch.extractor_mode

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = wav.unsqueeze(1)
        for i, block in enumerate(cast(Iterable[Any], self.conv_layers)):  # Sequentials read by position
            conv = block[0]
            x = conv(x)
            if lengths is not None:
                lengths = torch.div(lengths - conv.kernel_size[0], conv.stride[0], rounding_mode="floor") + 1
            if self.mode == "layer_norm":
                ln = block[2][1]
                x = (
                    F.layer_norm(
                        x.float().transpose(1, 2), ln.normalized_shape, ln.weight.float(), ln.bias.float(), ln.eps
                    )
                    .transpose(1, 2)
                    .to(x.dtype)
                )
            elif i == 0:
                x = _group_norm(x, block[2], lengths)
            x = F.gelu(x)
        return x, lengths


def _group_norm(x: torch.Tensor, gn: nn.GroupNorm, lengths: torch.Tensor | None) -> torch.Tensor:
    """Per-channel GroupNorm over time in fp32 (fairseq's Fp32GroupNorm).

    With a padded batch the statistics are taken over each clip's own frames only. This is the one
    place where padding could leak into the result: every later conv output frame that counts is built
    from real frames alone (the convs have no padding), and the encoder masks the rest.
    """
    xf = x.float()
    if lengths is None:
        y = F.group_norm(xf, gn.num_groups, gn.weight.float(), gn.bias.float(), gn.eps)
        return y.to(x.dtype)
    mask = (torch.arange(x.shape[-1], device=x.device) < lengths[:, None]).unsqueeze(1)  # [B,1,L]
    count = lengths.clamp(min=1).to(xf.dtype).view(-1, 1, 1)
    mean = (xf * mask).sum(-1, keepdim=True) / count
    var = (((xf - mean) * mask) ** 2).sum(-1, keepdim=True) / count
    y = (xf - mean) * torch.rsqrt(var + gn.eps) * gn.weight.float()[:, None] + gn.bias.float()[:, None]
    return y.to(x.dtype)


class HubertNet(nn.Module):
    """HuBERT for feature extraction: waveform → hidden states of a chosen transformer layer."""

    def __init__(self, arch: HubertArch) -> None:
        super().__init__()
        self.arch = arch
        self.feature_extractor = _FeatureExtractor(arch)
        self.layer_norm = nn.LayerNorm(arch.conv_dim, eps=_EPS)
        self.post_extract_proj = nn.Linear(arch.conv_dim, arch.embed_dim) if arch.post_extract_proj else None
        self.encoder = _Encoder(arch)
        self.final_proj = nn.Linear(arch.embed_dim, arch.final_dim) if arch.final_dim else None

    def forward(
        self, wav: torch.Tensor, output_layer: int, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Output of transformer layer ``output_layer`` (1-based), as fairseq's ``extract_features``.

        ``wav`` is ``[B, N]``; ``lengths`` (samples per clip) marks zero padding in a batch and then the
        per-clip frame counts are returned too. Layers after ``output_layer`` are never computed. As in
        fairseq with an explicit output layer, pre-LN models get no final encoder LayerNorm.
        """
        if not 1 <= output_layer <= self.arch.num_layers:
            raise ValueError(f"output_layer must be in 1..{self.arch.num_layers}, got {output_layer}")
        feats, frames = self.feature_extractor(wav, lengths)
        x = self.layer_norm(feats.transpose(1, 2))
        if self.post_extract_proj is not None:
            x = self.post_extract_proj(x)
        key_mask = None
        if frames is not None:
            valid = torch.arange(x.shape[1], device=x.device)[None, :] < frames[:, None]  # [B,T]
            x = x * valid.unsqueeze(-1).to(x.dtype)  # padding frames are zeros before the positional conv
            key_mask = valid[:, None, None, :]
        enc = self.encoder
        pos = enc.pos_conv(x.transpose(1, 2))
        if enc.drop_last:
            pos = pos[..., :-1]
        x = x + F.gelu(pos).transpose(1, 2)
        if not enc.layer_norm_first:
            x = enc.layer_norm(x)
        for layer in enc.layers[:output_layer]:
            x = layer(x, key_mask)
        return x, frames
