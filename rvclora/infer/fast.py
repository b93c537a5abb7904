"""The optimised CPU/GPU inference path for a synthesizer (``Converter(fast=True)``, the default).

What the profile of a 10 s v2-40k conversion showed on CPU (benchmarks/RESULTS.md): ~85 % of the time is
the decoder's convolutions, which already run near the machine's peak, so an exact fp32 path can only
remove work around them:

* weight norm is folded once at load (:func:`fold_weight_norm`) instead of g·v/‖v‖ on every forward;
* the decoder runs in time tiles of :data:`TILE_FRAMES` frames plus a halo of its receptive radius
  (:func:`decode`), so its tensors stay small enough to be reused from the heap instead of being mapped
  and page-faulted afresh for every layer — on a 10 s input that was ~40 % of the run's time (on a GPU,
  tiles of :data:`GPU_TILE_FRAMES` only bound peak memory);
* inside a tile, activations and sums are in place: the same operations in the same order as
  :class:`~rvclora.models.generator.Generator` (bit-identical for inputs up to one tile; tiled output
  differs by float rounding only, ~1e-7);
* everything runs under ``torch.inference_mode`` (no autograd bookkeeping, no version counters).

A single adapter is already merged at load by :func:`rvclora.infer.voices.attach_adapters` on both paths.
The eager path (``Converter(fast=False)``) runs the model as loaded and stays the reference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TypeVar, cast

import torch
from torch import nn
from torch.nn import functional as F

from rvclora.models.generator import Generator
from rvclora.models.modules import LRELU_SLOPE, ResBlock1
from rvclora.models.synthesizer import Synthesizer, prior_sample
from rvclora.models.weightnorm import fold_weight_norm

M = TypeVar("M", bound=nn.Module)


def prepare_fast(model: M) -> M:
    """Fold every weight norm (also inside attached adapters' base layers) in place; returns ``model``."""
    return fold_weight_norm(model)


@torch.inference_mode()
def fast_infer(
    model: Synthesizer,
    phone: torch.Tensor,
    lengths: torch.Tensor,
    sid: torch.Tensor,
    pitch: torch.Tensor | None = None,
    nsff0: torch.Tensor | None = None,
    phase: torch.Tensor | None = None,
    skip: int = 0,
    runner: Callable[..., torch.Tensor] | None = None,
) -> torch.Tensor:
    """``model.infer(...)[0]`` (audio ``[B, 1, samples]``) with the in-place decoder.

    Same random draws in the same order as :meth:`Synthesizer.run_infer` (prior noise, then the NSF
    source), so with one seed both paths give the same audio. ``skip`` frames at the start are not decoded
    (a stream needs them as context for the encoder and flow only; output starts at frame ``skip``, exact
    from ``skip`` + the decoder's receptive radius on); ``phase``: the NSF sine's phase at frame 0;
    ``runner``: what runs each decoder tile (a backend of :mod:`rvclora.infer.backends`; default: torch).
    """
    use_f0 = bool(model.config.f0)
    if use_f0 and (pitch is None or nsff0 is None):
        raise ValueError("this model is pitch-conditioned (f0): give pitch and nsff0")
    g = model.emb_g(sid).unsqueeze(-1)
    m_p, logs_p, x_mask = model.enc_p(phone, pitch if use_f0 else None, lengths)
    z_p = prior_sample(m_p, logs_p, x_mask)
    z = model.flow(z_p, x_mask, g=g, reverse=True)
    x, f0 = z * x_mask, nsff0 if use_f0 else None
    if skip:
        x = x[:, :, skip:]
        if f0 is not None:
            if phase is not None:  # the phase the sine reaches at frame ``skip`` (upp samples per frame)
                upp = model.dec.upp
                steps = (f0[:, :skip].double() / model.dec.m_source.l_sin_gen.sampling_rate) % 1.0
                phase = ((phase.double() + upp * steps.sum(dim=1, keepdim=True)) % 1.0).float()
            f0 = f0[:, skip:]
    return decode(model.dec, x, f0, g, phase=phase, runner=runner)


#: latent frames per decoder tile on a CPU: every intermediate tensor of a v2-40k decoder stays below glibc's
#: 32 MB mmap ceiling, so it comes from the heap instead of fresh zeroed pages (page faults were ~40 % of a
#: 10 s run)
TILE_FRAMES = 400
#: on a GPU the caching allocator reuses memory, so tiles only bound peak memory (30 s at a time) and each
#: halo is recomputed work: ~7 % with 400-frame tiles, ~1 % with these
GPU_TILE_FRAMES = 3000


def decode(
    dec: Generator,
    x: torch.Tensor,
    f0: torch.Tensor | None,
    g: torch.Tensor | None,
    tile: int | None = None,
    halo: int | None = None,
    phase: torch.Tensor | None = None,
    runner: Callable[..., torch.Tensor] | None = None,
) -> torch.Tensor:
    """:meth:`Generator.forward` (without ``n_res``) in time tiles, with in-place elementwise work.

    Every layer is local, so a tile extended by ``halo`` frames on each side (default: the decoder's receptive
    radius, :func:`receptive_radius`) gives exactly the untiled output inside the tile; tiles start at whole
    frames, so the upsamplers and the strided noise convs stay on the same grid. The NSF source is computed
    once for the whole input (its random draws are the untiled ones) and sliced. ``phase``: the NSF sine's
    starting phase (see :class:`~rvclora.models.nsf.SineGen`); ``runner(x, har, g)``: runs one tile in place of
    :func:`_decode_tile` (same weights on another engine). Call without autograd.
    """
    run_tile = runner or (lambda x_, har_, g_: _decode_tile(dec, x_, har_, g_))
    har = None
    if dec.has_source:
        if f0 is None:
            raise ValueError("the NSF decoder needs f0")
        har = dec.m_source(f0, dec.upp, phase).transpose(1, 2)
    halo = receptive_radius(dec) if halo is None else halo
    if tile is None:
        tile = TILE_FRAMES if x.device.type == "cpu" else GPU_TILE_FRAMES
    frames = x.shape[-1]
    if frames <= tile + 2 * halo:
        return run_tile(x, har, g)
    outputs = []
    for start in range(0, frames, tile):
        stop = min(start + tile, frames)
        lo, hi = max(start - halo, 0), min(stop + halo, frames)
        part = None if har is None else har[:, :, lo * dec.upp : hi * dec.upp]
        out = run_tile(x[:, :, lo:hi], part, g)
        outputs.append(out[:, :, (start - lo) * dec.upp : (stop - lo) * dec.upp])
    return torch.cat(outputs, dim=-1)


def receptive_radius(dec: Generator) -> int:
    """Latent frames on each side that can reach one output frame of ``dec`` (rounded up, plus one)."""

    def reach(conv: nn.Conv1d | nn.ConvTranspose1d) -> int:
        return (conv.kernel_size[0] - 1) // 2 * conv.dilation[0]

    radius, rate = float(reach(dec.conv_pre)), 1
    k = dec.num_kernels
    for i, up in enumerate(cast(Iterable[nn.ConvTranspose1d], dec.ups)):
        radius += math.ceil(up.kernel_size[0] / up.stride[0]) / rate  # input positions one output sample reads
        rate *= up.stride[0]
        blocks = dec.resblocks[i * k : (i + 1) * k]
        radius += max(sum(reach(c) for c in block.modules() if isinstance(c, nn.Conv1d)) for block in blocks) / rate
    radius += reach(dec.conv_post) / rate
    return math.ceil(radius) + 1


def _decode_tile(dec: Generator, x: torch.Tensor, har: torch.Tensor | None, g: torch.Tensor | None) -> torch.Tensor:
    x = dec.conv_pre(x)
    if g is not None:
        x.add_(dec.cond(g))  # [B, C, 1] broadcast over time
    k = dec.num_kernels
    for i, up in enumerate(dec.ups):
        x = up(F.leaky_relu(x, LRELU_SLOPE))
        if har is not None:
            x.add_(dec.noise_convs[i](har))
        blocks = dec.resblocks[i * k : (i + 1) * k]
        xs = _resblock(blocks[0], x)
        for block in blocks[1:]:
            xs.add_(_resblock(block, x))
        x = xs.div_(k)
    return torch.tanh_(dec.conv_post(F.leaky_relu(x)))  # default slope 0.01 here, as upstream


def _resblock(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """ResBlock1 without a mask, writing into the fresh conv outputs; ``x`` itself is never modified."""
    if not isinstance(block, ResBlock1):
        return block(x)
    for c1, c2 in zip(block.convs1, block.convs2, strict=True):
        xt = F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE, inplace=True)
        x = c2(xt).add_(x)
    return x
