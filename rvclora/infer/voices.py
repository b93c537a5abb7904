"""A voice = a ready-to-run synthesizer (a base with adapters merged or blended, or a plain RVC model) plus
the retrieval index(es) that belong to it.

Bases are loaded once and copied per voice, so converting to several voices reads each file once.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
from torch import nn

from rvclora.errors import ConfigError, IncompatibleError
from rvclora.workspace.schema import default

if TYPE_CHECKING:
    from rvclora.models.synthesizer import Synthesizer

M = TypeVar("M", bound=nn.Module)


@dataclass
class Retriever:
    """One faiss index with its stored vectors (RVC's ``big_npy``) and its share in a blend."""

    path: Path
    index: Any
    vectors: np.ndarray
    weight: float = 1.0


@dataclass
class Voice:
    """A synthesizer ready for :meth:`generate`, with what the pipeline needs to know about it."""

    name: str
    model: Synthesizer
    device: str
    dtype: torch.dtype
    retrievers: list[Retriever] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    fast: bool = False  # the model was prepared by rvclora.infer.fast.prepare_fast: run fast_infer
    backend: str = "torch"  # what runs the fast path's decoder tiles (rvclora.infer.backends)
    tile_runner: Any = None  # that backend's tile runner; None: the torch tiles
    # Pitch on unvoiced frames this voice expects ("zero"/"fill"): its adapter's training convention, else the
    # configured default. ConvertOptions.unvoiced_f0 overrides it per call.
    unvoiced_f0: str = field(default_factory=lambda: str(default("unvoiced_f0")))

    @property
    def sr(self) -> int:
        return int(self.model.config.sr)

    @property
    def version(self) -> str:
        return str(self.model.config.version)

    @property
    def f0(self) -> bool:
        return bool(self.model.config.f0)

    @property
    def n_speakers(self) -> int:
        return int(self.model.emb_g.weight.shape[0])

    @property
    def index_name(self) -> str | None:
        return ", ".join(r.path.name for r in self.retrievers) or None

    @property
    def index_path(self) -> str | None:
        return ", ".join(str(r.path) for r in self.retrievers) or None

    def retrieve(self, feats: np.ndarray) -> np.ndarray:
        """Training features nearest to ``feats`` (RVC's 1/d² weighting), blended across indexes by weight."""
        from rvclora.features.index import retrieve

        total = sum(r.weight for r in self.retrievers)
        out = np.zeros_like(feats, dtype=np.float32)
        for r in self.retrievers:
            out += (r.weight / total) * retrieve(r.index, r.vectors, feats, k=8, index_rate=1.0)
        return out

    @torch.no_grad()
    def generate(
        self,
        feats: np.ndarray,
        coarse: np.ndarray | None,
        hz: np.ndarray | None,
        speaker_id: int = 0,
        phase: float | None = None,
        skip: int = 0,
    ) -> np.ndarray:
        """Run ``infer`` on 100 Hz features ``[n, dim]`` (+ pitch for f0 models); returns float32 audio.

        ``phase`` (cycles) starts the NSF sine where an earlier block of a stream left it; ``skip`` frames are
        context only and not decoded (both: fast path only, see :func:`rvclora.infer.fast.fast_infer`).
        """
        if speaker_id >= self.n_speakers:
            raise ConfigError(
                f"speaker id {speaker_id} does not exist in {self.name} ({self.n_speakers} speakers)",
                f"use --speaker-id 0..{self.n_speakers - 1}",
            )
        dev = self.device
        phone = torch.from_numpy(feats).to(dev, self.dtype).unsqueeze(0)
        lengths = torch.tensor([feats.shape[0]], device=dev, dtype=torch.long)
        sid = torch.tensor([speaker_id], device=dev, dtype=torch.long)
        pitch: torch.Tensor | None
        pitchf: torch.Tensor | None
        if self.f0:
            assert coarse is not None and hz is not None
            pitch = torch.from_numpy(coarse).to(dev, torch.long).unsqueeze(0)
            pitchf = torch.from_numpy(hz).to(dev, self.dtype).unsqueeze(0)
        else:
            pitch = pitchf = None
        if self.fast:
            from rvclora.infer.fast import fast_infer

            start = None if phase is None else torch.full((1, 1), phase, device=dev, dtype=torch.float32)
            audio = fast_infer(
                self.model, phone, lengths, sid, pitch, pitchf, phase=start, skip=skip, runner=self.tile_runner
            )
        elif pitch is not None:
            audio = self.model.run_infer(phone, lengths, sid, pitch=pitch, nsff0=pitchf)[0]
        else:
            audio = self.model.run_infer(phone, lengths, sid)[0]
        return audio[0, 0].float().cpu().numpy()


class BaseCache:
    """Synthesizers loaded from disk once per path; voices get private deep copies to modify."""

    def __init__(self) -> None:
        self._models: dict[Path, Synthesizer] = {}

    def get(self, path: Path) -> Synthesizer:
        from rvclora.models.checkpoint import load_synthesizer

        key = Path(path).expanduser().resolve()
        if key not in self._models:
            self._models[key] = load_synthesizer(key, device="cpu").eval()
        return copy.deepcopy(self._models[key])


def attach_adapters(model: nn.Module, adapters: list[Path], weights: list[float], scale: float, force: bool) -> None:
    """One adapter: attach and merge (fastest at run time). Several: attach one exact blend, unmerged."""
    if len(adapters) == 1:
        from rvclora.lora.adapter import load_lora
        from rvclora.lora.merge import merge_lora

        load_lora(model, adapters[0], scale=scale * weights[0], force=force)
        merge_lora(model)
        return
    from rvclora.lora.adapter import attach_adapter, read_adapter
    from rvclora.lora.merge import blend_adapters

    parts = [read_adapter(p) for p in adapters]
    tensors, meta = blend_adapters(parts, [w * scale for w in weights], base=model.state_dict(), force=force)
    attach_adapter(model, tensors, meta, force=force, name="blend of " + ", ".join(p.name for p in adapters))


def finish(model: M, device: str, dtype: torch.dtype) -> M:
    """Drop the training-only posterior encoder and move to the run's device and precision."""
    if getattr(model, "enc_q", None) is not None:
        del model.enc_q
    return model.to(device=device, dtype=dtype).eval()


def load_retriever(path: Path, dim: int, weight: float = 1.0) -> Retriever:
    from rvclora.features.index import index_vectors, load_index

    index = load_index(path, expected_dim=dim)
    return Retriever(Path(path), index, index_vectors(index), weight)


def voice_names(lora: list[Path], model: Path | None, each: bool) -> list[str]:
    """The names a Converter gives its voices, known before anything loads (they name the output files).

    With ``--each``, adapters whose file names collide (``alice/adapters/voice.safetensors`` and
    ``bob/adapters/voice.safetensors``) get ``-2``, ``-3`` … so no output overwrites another.
    """
    if model is not None:
        return [Path(model).stem]
    if not each:
        return ["+".join(Path(p).stem for p in lora)]
    names: list[str] = []
    for path in lora:
        name, n = Path(path).stem, 1
        while name in names:
            n += 1
            name = f"{Path(path).stem}-{n}"
        names.append(name)
    return names


def check_encoder_fits(encoder: Any, model: Synthesizer, name: str) -> None:
    """The content encoder must produce the width the synthesizer's text encoder takes."""
    version = str(model.config.version)
    want = int(model.config.content_dim)
    have = int(encoder.dim(version))
    if have != want:
        raise IncompatibleError(
            f"the content encoder gives {have}-dim {version} features but {name} needs {want}",
            "use the HuBERT/ContentVec checkpoint the model was trained with",
        )
