"""Content features for RVC: HuBERT/ContentVec hidden states of 16 kHz audio.

v1 models take ``final_proj(layer 9)`` (256-d for ContentVec), v2 models take layer 12 (768-d); 50 frames/s,
``T = floor((N − 400)/320) + 1`` for N samples. Matches fairseq's ``extract_features(output_layer=9/12)``
as RVC calls it (unpadded clip, no waveform normalisation unless the checkpoint asks for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from rvclora.devices import resolve_device
from rvclora.errors import BadInputError, ConfigError, IncompatibleError

if TYPE_CHECKING:
    import torch

    from rvclora.features.hubert_model import HubertNet

Version = Literal["v1", "v2"]
# The transformer layer each RVC version reads (1-based, fairseq's output_layer).
OUTPUT_LAYER: dict[str, int] = {"v1": 9, "v2": 12}
SAMPLE_RATE = 16000

Array = TypeVar("Array", np.ndarray, "torch.Tensor")

_DTYPES = {
    "fp32": "float32",
    "float32": "float32",
    "fp16": "float16",
    "float16": "float16",
    "half": "float16",
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
}


class ContentEncoder:
    """A loaded HuBERT/ContentVec model, ready to turn 16 kHz waveforms into RVC content features."""

    def __init__(self, net: HubertNet, *, normalize: bool, source: Path, packed: bool = False) -> None:
        self.net = net
        self.normalize = normalize
        self.source = source
        self.packed = packed  # linear layers on oneDNN-packed weights (inference only)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.net.parameters()).dtype

    def dim(self, version: Version) -> int:
        """Feature width for an RVC version (v1: final_proj width, v2: encoder width)."""
        return self.net.arch.final_dim if _check_version(version) == "v1" else self.net.arch.embed_dim

    def num_frames(self, num_samples: int) -> int:
        return self.net.arch.num_frames(num_samples)

    def extract(self, wav: Array, version: str = "v2") -> Array:
        """Features ``[T, D]`` float32 of one mono 16 kHz clip (numpy in → numpy out, torch in → torch out)."""
        return self.extract_batch([wav], version, batch_size=1)[0]

    def extract_batch(
        self, wavs: Sequence[Array], version: str = "v2", batch_size: int = 8, max_batch_samples: int = 16000 * 240
    ) -> list[Array]:
        """Features of several clips, batched by similar length; each result equals :meth:`extract`'s.

        Clips are padded with zeros inside a batch; the model takes statistics and attention over each
        clip's own frames only (see ``HubertNet.forward``), so padding does not change the features.
        ``max_batch_samples`` caps padded samples per batch to bound memory.
        """
        import torch

        layer = OUTPUT_LAYER[_check_version(version)]
        if layer > self.net.arch.num_layers:
            raise IncompatibleError(
                f"{self.source.name} has {self.net.arch.num_layers} layers; {version} features come from layer {layer}",
                "use a 12-layer HuBERT/ContentVec model",
            )
        if version == "v1" and self.net.final_proj is None:
            raise IncompatibleError(
                f"{self.source.name} has no final_proj, so it cannot give v1 features",
                "use a v2 model, or the ContentVec checkpoint RVC ships",
            )
        clips = [self._prepare(w, i) for i, w in enumerate(wavs)]
        order = sorted(range(len(clips)), key=lambda i: clips[i].shape[0], reverse=True)
        results: list[torch.Tensor | None] = [None] * len(clips)
        start = 0
        while start < len(order):
            longest = clips[order[start]].shape[0]
            size = max(1, min(batch_size, max_batch_samples // max(longest, 1)))
            group = order[start : start + size]
            start += size
            batch = torch.zeros(len(group), longest, dtype=self.dtype, device=self.device)
            for row, i in enumerate(group):
                batch[row, : clips[i].shape[0]] = clips[i]
            lengths = torch.tensor([clips[i].shape[0] for i in group], device=self.device)
            with torch.inference_mode():
                hidden, frames = self.net(batch, layer, lengths if len(group) > 1 else None)
                if version == "v1" and self.net.final_proj is not None:  # checked above: v1 has one
                    hidden = self.net.final_proj(hidden)
            for row, i in enumerate(group):
                n = int(frames[row]) if frames is not None else hidden.shape[1]
                results[i] = hidden[row, :n].float()
        return [_like(wavs[i], r) for i, r in enumerate(results)]  # type: ignore[arg-type]

    def _prepare(self, wav: Any, index: int) -> torch.Tensor:
        """Validate one clip and move it to the model's device and dtype (normalised if the model wants it)."""
        import torch

        x = wav.detach() if isinstance(wav, torch.Tensor) else torch.from_numpy(np.asarray(wav))
        if x.ndim == 2 and x.shape[0] == 1:
            x = x[0]
        if x.ndim != 1:
            raise BadInputError(
                f"clip {index}: expected a mono waveform [samples], got shape {tuple(x.shape)}",
                "mix down to mono and resample to 16 kHz first",
            )
        if x.shape[0] < self.net.arch.conv_layers[0][1] or self.num_frames(x.shape[0]) < 1:
            raise BadInputError(
                f"clip {index}: {x.shape[0]} samples is too short for HuBERT",
                "give at least 25 ms (400 samples at 16 kHz)",
            )
        x = x.to(device=self.device, dtype=torch.float32)
        if not bool(torch.isfinite(x).all()):
            raise BadInputError(
                f"clip {index}: the waveform contains NaN or infinite samples",
                "check the audio file; it may be corrupt",
            )
        if self.normalize:  # fairseq's task.normalize: layer norm over the whole clip
            x = torch.nn.functional.layer_norm(x, x.shape)
        return x.to(self.dtype)


def _check_version(version: str) -> str:
    if version not in OUTPUT_LAYER:
        raise ConfigError(f"unknown RVC version {version!r}", "use v1 or v2")
    return version


def _like(original: Any, features: torch.Tensor) -> Any:
    """Return features in the caller's array type: torch on the caller's device, else float32 numpy."""
    import torch

    if isinstance(original, torch.Tensor):
        return features.to(original.device)
    return features.cpu().numpy().astype(np.float32, copy=False)


def _resolve_device_dtype(device: Any, dtype: Any) -> tuple[torch.device, torch.dtype]:
    import torch

    dev = resolve_device(device)
    if dtype is None:
        return dev, torch.float32
    if isinstance(dtype, str):
        name = _DTYPES.get(dtype.lower())
        if name is None:
            raise ConfigError(f"unknown dtype {dtype!r}", "use fp32, fp16 or bf16")
        dtype = getattr(torch, name)
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ConfigError(f"unsupported dtype {dtype}", "use fp32, fp16 or bf16")
    if dtype == torch.float16 and dev.type == "cpu":
        raise ConfigError("fp16 HuBERT needs a GPU", "use fp32 or bf16 on CPU")
    return dev, dtype


def load_content_encoder(
    path: str | Path, device: Any = "cpu", dtype: Any = None, packed: bool | None = None
) -> ContentEncoder:
    """Load ``hubert_base.pt`` (fairseq) or a Hugging Face HuBERT/ContentVec folder/file.

    ``dtype`` None keeps fp32 (checkpoints stored in fp16 are upcast); fp16/bf16 halve memory on GPU as
    RVC's ``is_half`` does (RVC itself runs HuBERT in fp16 on CUDA). ``packed``: run the linear layers on
    oneDNN-packed weights (:mod:`rvclora.features.hubert_packed`: up to 1.5× faster on short inputs, equal
    to float rounding);
    None = where it applies (CPU, fp32, a torch with oneDNN), False = plain PyTorch.
    """
    import torch

    from rvclora.features.hubert_load import read_checkpoint
    from rvclora.features.hubert_model import HubertNet

    dev, dt = _resolve_device_dtype(device, dtype)
    arch, state, normalize = read_checkpoint(path)
    with torch.device("meta"):  # no random init of 95M parameters only to overwrite them
        net = HubertNet(arch)
    try:
        net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True, assign=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1:2] or [str(exc)]
        raise BadInputError(
            f"HuBERT checkpoint {Path(path).name} does not match its own config: {first[0].strip()[:200]}",
            "the file is damaged or a variant rvclora cannot read",
        ) from exc
    net.eval().requires_grad_(False).to(device=dev, dtype=dt)
    from rvclora.features.hubert_packed import pack_linears, packed_linear_available
    from rvclora.onednn import want_packed

    pack = want_packed(packed, dev, dt, packed_linear_available(), "HuBERT")
    if pack:
        pack_linears(net)
    return ContentEncoder(net, normalize=normalize, source=Path(path), packed=pack)
