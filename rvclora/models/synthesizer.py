"""RVC's synthesizers: content encoder + flow + decoder (+ posterior encoder for training).

:class:`Synthesizer` is the one implementation, parametrised by a :class:`SynthConfig` (version ⇒
content width 256/768, f0 on/off). The four upstream class names wrap it with upstream's positional
constructor and ``forward``/``infer`` signatures, so code written against RVC works unchanged.
State-dict keys, shapes and order equal upstream's (v2: ``enc_p`` last, because upstream's 768
classes delete and re-create it).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rvclora.models import commons, noise
from rvclora.models.config import POSITIONAL_FIELDS, SynthConfig
from rvclora.models.encoders import PosteriorEncoder, TextEncoder
from rvclora.models.generator import Generator, GeneratorNSF
from rvclora.models.modules import ResidualCouplingBlock

#: scale of the prior noise at inference (upstream's constant)
PRIOR_NOISE_SCALE = 0.66666
#: frames of left context the realtime path keeps before ``skip_head`` for the flow
FLOW_CONTEXT = 24


def prior_sample(m_p: torch.Tensor, logs_p: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
    """z_p at inference: the prior mean plus its noise scaled by :data:`PRIOR_NOISE_SCALE`, masked."""
    return (m_p + torch.exp(logs_p) * noise.randn_like(m_p) * PRIOR_NOISE_SCALE) * x_mask


class Synthesizer(nn.Module):
    """One RVC generator. ``run_train``/``run_infer`` take keyword pitch inputs and work for every variant."""

    def __init__(self, config: SynthConfig) -> None:
        super().__init__()
        self.config = config
        self.segment_size = config.segment_size
        c = config
        if c.version == "v1":
            self.enc_p = self._text_encoder()
        shape = (
            c.inter_channels,
            c.resblock,
            c.resblock_kernel_sizes,
            c.resblock_dilation_sizes,
            c.upsample_rates,
            c.upsample_initial_channel,
            c.upsample_kernel_sizes,
            c.gin_channels,
        )
        self.dec: Generator = GeneratorNSF(*shape, sr=c.sr) if c.f0 else Generator(*shape)
        self.add_posterior_encoder()
        self.flow = ResidualCouplingBlock(c.inter_channels, c.hidden_channels, 5, 1, 3, gin_channels=c.gin_channels)
        self.emb_g = nn.Embedding(c.spk_embed_dim, c.gin_channels)
        if c.version == "v2":
            self.enc_p = self._text_encoder()

    def _text_encoder(self) -> TextEncoder:
        c = self.config
        return TextEncoder(
            c.content_dim,
            c.inter_channels,
            c.hidden_channels,
            c.filter_channels,
            c.n_heads,
            c.n_layers,
            c.kernel_size,
            c.p_dropout,
            f0=c.f0,
        )

    def add_posterior_encoder(self) -> None:
        """(Re)create ``enc_q`` with fresh weights — inference files lack it, training needs it.

        Note: on a model without ``enc_q`` this appends it after the other modules, so the state_dict
        order then differs from upstream's (names and shapes do not).
        """
        c = self.config
        self.enc_q = PosteriorEncoder(
            c.spec_channels, c.inter_channels, c.hidden_channels, 5, 1, 16, gin_channels=c.gin_channels
        )

    def remove_posterior_encoder(self) -> None:
        """Drop ``enc_q`` as RVC does for inference models."""
        if hasattr(self, "enc_q"):
            del self.enc_q

    @property
    def has_posterior_encoder(self) -> bool:
        return hasattr(self, "enc_q")

    def _pitch_inputs(self, pitch: torch.Tensor | None, pitchf: torch.Tensor | None) -> None:
        if self.config.f0 and (pitch is None or pitchf is None):
            raise ValueError("this model is pitch-conditioned (f0): give pitch and pitchf/nsff0")

    def run_train(
        self,
        phone: torch.Tensor,
        phone_lengths: torch.Tensor,
        spec: torch.Tensor,
        spec_lengths: torch.Tensor,
        sid: torch.Tensor,
        pitch: torch.Tensor | None = None,
        pitchf: torch.Tensor | None = None,
    ) -> tuple[Any, ...]:
        """Training forward on a random ``segment_size``-frame slice.

        Returns ``(audio, ids_slice, x_mask, y_mask, (z, z_p, m_p, logs_p, m_q, logs_q))`` as upstream.
        """
        self._pitch_inputs(pitch, pitchf)
        if not self.has_posterior_encoder:
            raise ValueError(
                "training needs the posterior encoder (enc_q); call add_posterior_encoder() "
                "and load its weights from a pretrained G file"
            )
        use_f0 = self.config.f0
        g = self.emb_g(sid).unsqueeze(-1)
        m_p, logs_p, x_mask = self.enc_p(phone, pitch if use_f0 else None, phone_lengths)
        z, m_q, logs_q, y_mask = self.enc_q(spec, spec_lengths, g=g)
        z_p = self.flow(z, y_mask, g=g)
        z_slice, ids_slice = commons.rand_slice_segments(z, spec_lengths, self.segment_size)
        if use_f0:
            assert pitchf is not None
            o = self.dec(z_slice, commons.slice_segments(pitchf, ids_slice, self.segment_size), g=g)
        else:
            o = self.dec(z_slice, g=g)
        return o, ids_slice, x_mask, y_mask, (z, z_p, m_p, logs_p, m_q, logs_q)

    def run_infer(
        self,
        phone: torch.Tensor,
        phone_lengths: torch.Tensor,
        sid: torch.Tensor,
        pitch: torch.Tensor | None = None,
        nsff0: torch.Tensor | None = None,
        skip_head: torch.Tensor | None = None,
        return_length: torch.Tensor | None = None,
        return_length2: torch.Tensor | None = None,
    ) -> tuple[Any, ...]:
        """Convert: prior sample (noise × 0.66666) → reverse flow → decoder.

        Returns ``(audio [B,1,samples], x_mask, (z, z_p, m_p, logs_p))`` as upstream. ``skip_head`` and
        ``return_length`` (tensors) crop the output for streaming; ``return_length2`` resamples the latent.
        """
        self._pitch_inputs(pitch, nsff0)
        use_f0 = self.config.f0
        g = self.emb_g(sid).unsqueeze(-1)
        pitch_in = pitch if use_f0 else None
        if skip_head is not None and return_length is not None:
            head, length = int(skip_head.item()), int(return_length.item())
            flow_head = max(head - FLOW_CONTEXT, 0)
            dec_head = head - flow_head
            m_p, logs_p, x_mask = self.enc_p(phone, pitch_in, phone_lengths, flow_head)
            z_p = prior_sample(m_p, logs_p, x_mask)
            z = self.flow(z_p, x_mask, g=g, reverse=True)
            z = z[:, :, dec_head : dec_head + length]
            x_mask = x_mask[:, :, dec_head : dec_head + length]
            if use_f0:
                assert nsff0 is not None
                nsff0 = nsff0[:, head : head + length]
        else:
            m_p, logs_p, x_mask = self.enc_p(phone, pitch_in, phone_lengths)
            z_p = prior_sample(m_p, logs_p, x_mask)
            z = self.flow(z_p, x_mask, g=g, reverse=True)
        o = self.dec(z * x_mask, nsff0 if use_f0 else None, g=g, n_res=return_length2)
        return o, x_mask, (z, z_p, m_p, logs_p)


def _config_from_args(args: tuple[Any, ...], kwargs: dict[str, Any], version: str, f0: bool) -> SynthConfig:
    """Upstream's positional constructor (18 args, or some by keyword; ``is_half`` ignored) → SynthConfig."""
    extra = {k: v for k, v in kwargs.items() if k != "is_half"}
    values = list(args)
    for name in POSITIONAL_FIELDS[len(values) :]:
        if name in extra:
            values.append(extra.pop(name))
        elif name == "sr" and not f0:
            values.append(40000)  # the _nono classes accept and ignore sr
    if extra:
        raise TypeError(f"unexpected synthesizer argument(s): {', '.join(sorted(extra))}")
    return SynthConfig.from_list(values, version=version, f0=f0)


class _Upstream(Synthesizer):
    """Shared constructor of the four upstream-named classes."""

    VERSION = "v2"
    F0 = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) == 1 and isinstance(args[0], SynthConfig):
            config = args[0]
            if (config.version, config.f0) != (self.VERSION, self.F0):
                raise ValueError(f"{type(self).__name__} is {self.VERSION} f0={self.F0}; use build_synthesizer()")
        else:
            config = _config_from_args(args, kwargs, self.VERSION, self.F0)
        super().__init__(config)


class _WithF0(_Upstream):
    def forward(
        self,
        phone: torch.Tensor,
        phone_lengths: torch.Tensor,
        pitch: torch.Tensor,
        pitchf: torch.Tensor,
        y: torch.Tensor,
        y_lengths: torch.Tensor,
        ds: torch.Tensor,
    ) -> tuple[Any, ...]:
        return self.run_train(phone, phone_lengths, y, y_lengths, ds, pitch=pitch, pitchf=pitchf)

    def infer(
        self,
        phone: torch.Tensor,
        phone_lengths: torch.Tensor,
        pitch: torch.Tensor,
        nsff0: torch.Tensor,
        sid: torch.Tensor,
        skip_head: torch.Tensor | None = None,
        return_length: torch.Tensor | None = None,
        return_length2: torch.Tensor | None = None,
    ) -> tuple[Any, ...]:
        return self.run_infer(
            phone,
            phone_lengths,
            sid,
            pitch=pitch,
            nsff0=nsff0,
            skip_head=skip_head,
            return_length=return_length,
            return_length2=return_length2,
        )


class _NoF0(_Upstream):
    F0 = False

    def forward(
        self,
        phone: torch.Tensor,
        phone_lengths: torch.Tensor,
        y: torch.Tensor,
        y_lengths: torch.Tensor,
        ds: torch.Tensor,
    ) -> tuple[Any, ...]:
        return self.run_train(phone, phone_lengths, y, y_lengths, ds)

    def infer(
        self,
        phone: torch.Tensor,
        phone_lengths: torch.Tensor,
        sid: torch.Tensor,
        skip_head: torch.Tensor | None = None,
        return_length: torch.Tensor | None = None,
        return_length2: torch.Tensor | None = None,
    ) -> tuple[Any, ...]:
        return self.run_infer(
            phone, phone_lengths, sid, skip_head=skip_head, return_length=return_length, return_length2=return_length2
        )


class SynthesizerTrnMs256NSFsid(_WithF0):
    """v1 (256-dim content), pitch-conditioned."""

    VERSION = "v1"


class SynthesizerTrnMs768NSFsid(_WithF0):
    """v2 (768-dim content), pitch-conditioned."""

    VERSION = "v2"


class SynthesizerTrnMs256NSFsid_nono(_NoF0):
    """v1 (256-dim content), no pitch."""

    VERSION = "v1"


class SynthesizerTrnMs768NSFsid_nono(_NoF0):
    """v2 (768-dim content), no pitch."""

    VERSION = "v2"


_CLASSES: dict[tuple[str, bool], type[_Upstream]] = {
    ("v1", True): SynthesizerTrnMs256NSFsid,
    ("v2", True): SynthesizerTrnMs768NSFsid,
    ("v1", False): SynthesizerTrnMs256NSFsid_nono,
    ("v2", False): SynthesizerTrnMs768NSFsid_nono,
}


def synthesizer_class(version: str, f0: bool) -> type[_Upstream]:
    """The upstream class for (version, f0)."""
    return _CLASSES[(version, bool(f0))]


def build_synthesizer(config: SynthConfig) -> Synthesizer:
    """A freshly initialised synthesizer of the upstream class matching ``config``."""
    return synthesizer_class(config.version, config.f0)(config)
