"""Training data: one item per clip, RVC's alignment rules, and a deterministic length-bucketed batch order.

Per clip (rvc-interop.md §6): content features repeated 2× (50 → 100 Hz), coarse and Hz pitch, the linear
spectrogram of the target-rate clip; everything truncated to the shortest stream and to 900 frames, the
waveform to frames·hop samples.

Batch order is a pure function of (seed, epoch), so a resumed run replays exactly the batches an
uninterrupted run would see, and every DDP rank knows the whole global batch (it takes its own share).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rvclora.errors import BadInputError, IncompatibleError

MAX_FRAMES = 900  # RVC caps every item at 9 s of latent frames
BUCKET_STEP = 100  # RVC's boundaries 100, 200, ..., 900


@dataclass(frozen=True)
class Clip:
    """Where one training clip's streams live on disk."""

    name: str
    wav: Path
    features: Path
    f0: Path | None
    speaker: int = 0


@dataclass
class Item:
    """One clip, aligned: ``frames`` latent frames of every stream (CPU tensors)."""

    name: str
    phone: torch.Tensor  # [T, C] float
    pitch: torch.Tensor | None  # [T] long, 1..255
    pitchf: torch.Tensor | None  # [T] float Hz
    spec: torch.Tensor  # [F, T]
    wav: torch.Tensor  # [T·hop]
    speaker: int

    @property
    def frames(self) -> int:
        return int(self.spec.shape[-1])

    def to(self, device: torch.device) -> Item:
        return _moved(self, device, non_blocking=False)


def find_clips(
    wav_dir: Path, features_dir: Path, f0_dir: Path | None, speakers: dict[str, int] | None = None
) -> list[Clip]:
    """Clips that have every stream (target wav, features and — for pitch models — f0), sorted by name."""
    speakers = speakers or {}
    names = {p.stem for p in features_dir.glob("*.npy")} & {p.stem for p in wav_dir.glob("*.wav")}
    if f0_dir is not None:
        names &= {p.stem for p in f0_dir.glob("*.npy")}
    return [
        Clip(
            n,
            wav_dir / f"{n}.wav",
            features_dir / f"{n}.npy",
            None if f0_dir is None else f0_dir / f"{n}.npy",
            int(speakers.get(n, 0)),
        )
        for n in sorted(names)
    ]


def load_item(
    clip: Clip,
    sr: int,
    hop: int,
    content_dim: int,
    spectrogram: Callable[[torch.Tensor], torch.Tensor],
    coarse: Callable[[np.ndarray], np.ndarray] | None,
) -> Item:
    """Read and align one clip. ``spectrogram`` maps a ``[N]`` waveform to ``[F, N//hop]``."""
    from rvclora.audio.io import load_audio

    feats = _load_npy(clip.features, "content features")
    if feats.ndim != 2 or feats.shape[1] != content_dim:
        raise IncompatibleError(
            f"features {clip.features.name} have shape {feats.shape}, the model expects [T, {content_dim}]",
            "extract features with the same RVC version as the base model (rvclora extract --force)",
        )
    phone = np.repeat(feats, 2, axis=0)
    audio, file_sr = load_audio(clip.wav)
    if file_sr != sr:
        raise IncompatibleError(
            f"clip {clip.wav.name} is {file_sr} Hz, the model is {sr} Hz",
            "run rvclora preprocess again for this sample rate",
        )
    wav = torch.from_numpy(audio)
    spec = spectrogram(wav)
    lengths = [phone.shape[0], spec.shape[-1], MAX_FRAMES]
    pitch = pitchf = None
    if clip.f0 is not None:
        f0 = _load_npy(clip.f0, "pitch").astype(np.float32).reshape(-1)
        lengths.append(f0.shape[0])
    n = min(lengths)
    if clip.f0 is not None:
        assert coarse is not None  # given whenever clips have pitch
        f0 = f0[:n]
        pitchf = torch.from_numpy(np.ascontiguousarray(f0))
        pitch = torch.from_numpy(np.asarray(coarse(f0), dtype=np.int64))
    return Item(
        name=clip.name,
        phone=torch.from_numpy(np.ascontiguousarray(phone[:n], dtype=np.float32)),
        pitch=pitch,
        pitchf=pitchf,
        spec=spec[:, :n].contiguous(),
        wav=wav[: n * hop].contiguous(),
        speaker=clip.speaker,
    )


def _load_npy(path: Path, what: str) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{what} file {path} is unreadable ({exc})", "run rvclora extract --force") from exc
    if not np.isfinite(arr).all():
        raise BadInputError(f"{what} file {path} contains NaN or infinite values", "run rvclora extract --force")
    return arr


def split_validation(names: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, validation) names: a seeded shuffle; at least one clip each side once there are 4 or more."""
    names = sorted(names)
    if fraction <= 0 or len(names) < 4:
        return names, []
    shuffled = names[:]
    random.Random(seed).shuffle(shuffled)
    n_val = min(max(1, round(len(names) * fraction)), len(names) - 1)
    return sorted(shuffled[n_val:]), sorted(shuffled[:n_val])


def bucket_boundaries(min_frames: int) -> list[int]:
    """RVC's 100-frame buckets, with the first one opened down to ``min_frames`` (RVC would drop those)."""
    bounds = [min_frames - 1] + list(range(BUCKET_STEP, MAX_FRAMES + 1, BUCKET_STEP))
    return sorted(set(b for b in bounds if b >= min_frames - 1))


def epoch_batches(lengths: Sequence[int], global_batch: int, seed: int, epoch: int, min_frames: int) -> list[list[int]]:
    """Global batches of item indices for one epoch: bucket by length, pad each bucket to a multiple of the
    batch size by repeating its items (so a tiny dataset still fills a batch), shuffle within and across buckets.
    """
    bounds = bucket_boundaries(min_frames)
    buckets: list[list[int]] = [[] for _ in range(len(bounds) - 1)]
    for i, n in enumerate(lengths):
        for b in range(len(bounds) - 1):
            if bounds[b] < n <= bounds[b + 1]:
                buckets[b].append(i)
                break
    gen = torch.Generator().manual_seed(seed + epoch)
    batches: list[list[int]] = []
    for bucket in buckets:
        if not bucket:
            continue
        order = [bucket[j] for j in torch.randperm(len(bucket), generator=gen).tolist()]
        while len(order) % global_batch:
            order += order[: global_batch - len(order) % global_batch]
        batches += [order[k : k + global_batch] for k in range(0, len(order), global_batch)]
    return [batches[j] for j in torch.randperm(len(batches), generator=gen).tolist()]


@dataclass
class Batch:
    """Zero-padded tensors of one (per-rank) batch."""

    phone: torch.Tensor  # [B, T, C]
    lengths: torch.Tensor  # [B]
    pitch: torch.Tensor | None  # [B, T]
    pitchf: torch.Tensor | None  # [B, T]
    spec: torch.Tensor  # [B, F, T]
    wav: torch.Tensor  # [B, 1, T·hop]
    sid: torch.Tensor  # [B]

    def to(self, device: torch.device) -> Batch:
        return _moved(self, device, non_blocking=True)


def _moved(record: Any, device: torch.device, non_blocking: bool) -> Any:
    """A copy of a dataclass of tensors with every tensor field on ``device`` (other fields as they are)."""
    return dataclasses.replace(
        record,
        **{
            f.name: value.to(device, non_blocking=non_blocking)
            for f in dataclasses.fields(record)
            if isinstance(value := getattr(record, f.name), torch.Tensor)
        },
    )


def collate(items: Sequence[Item], hop: int, pin_memory: bool = False) -> Batch:
    """Pad every stream to the longest item of the batch (order kept: the slice starts follow it).

    The batch is built on the items' device; ``pin_memory`` (CPU items bound for a GPU) allocates it in
    page-locked memory so the copy to the GPU does not block the host.
    """
    t_max = max(it.frames for it in items)
    b = len(items)
    first = items[0]
    on: dict[str, Any] = {"device": first.phone.device, "pin_memory": pin_memory}
    phone = torch.zeros(b, t_max, first.phone.shape[1], **on)
    spec = torch.zeros(b, first.spec.shape[0], t_max, **on)
    wav = torch.zeros(b, 1, t_max * hop, **on)
    has_f0 = first.pitch is not None
    pitch = torch.zeros(b, t_max, dtype=torch.long, **on) if has_f0 else None
    pitchf = torch.zeros(b, t_max, **on) if has_f0 else None
    for i, it in enumerate(items):
        n = it.frames
        phone[i, :n] = it.phone
        spec[i, :, :n] = it.spec
        wav[i, 0, : it.wav.shape[0]] = it.wav
        if has_f0:
            assert pitch is not None and pitchf is not None and it.pitch is not None and it.pitchf is not None
            pitch[i, :n] = it.pitch
            pitchf[i, :n] = it.pitchf
    lengths = torch.tensor([it.frames for it in items], dtype=torch.long).to(first.phone.device)
    sid = torch.tensor([it.speaker for it in items], dtype=torch.long).to(first.phone.device)
    return Batch(phone, lengths, pitch, pitchf, spec, wav, sid)


def clip_frames(clip: Clip, hop: int) -> int:
    """Aligned frame count of a clip without loading it (for bucketing): the shortest stream, capped at 900."""
    import soundfile as sf

    try:
        feats = np.load(clip.features, mmap_mode="r", allow_pickle=False)
        n_wav = sf.info(str(clip.wav)).frames
        lengths = [2 * int(feats.shape[0]), n_wav // hop, MAX_FRAMES]
        if clip.f0 is not None:
            lengths.append(int(np.load(clip.f0, mmap_mode="r", allow_pickle=False).shape[0]))
    except (OSError, ValueError, RuntimeError) as exc:
        raise BadInputError(f"clip {clip.name} is unreadable ({exc})", "run rvclora preprocess/extract again") from exc
    return min(lengths)
