"""Training items and batches: clips read by index (or kept resident on the training device with ``cache``),
and the next batch collated in a background thread while the current step runs."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from rvclora.train.data import Batch, Clip, Item, collate, load_item
from rvclora.train.frontend import FrontEnd


class ItemStore:
    """Items by index, loaded from disk on demand; with ``cache_on`` each one is kept after its first load,
    on that device (the GPU with ``--cache``: no disk reads or host copies after the first epoch)."""

    def __init__(
        self, clips: Sequence[Clip], sr: int, fe: FrontEnd, content_dim: int, f0: bool, cache_on: torch.device | None
    ) -> None:
        from rvclora.features.f0 import coarse_f0

        self.clips, self.sr, self.fe, self.dim = list(clips), sr, fe, content_dim
        self.coarse = coarse_f0 if f0 else None
        self.cache_on = cache_on
        self._cache: dict[int, Item] = {}

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> Item:
        if i in self._cache:
            return self._cache[i]
        item = self.load(self.clips[i])
        if self.cache_on is not None:
            item = self._cache[i] = item.to(self.cache_on)
        return item

    def load(self, clip: Clip) -> Item:
        """One clip from disk (CPU tensors), never cached (validation clips)."""
        return load_item(clip, self.sr, self.fe.hop, self.dim, self.fe.spectrogram, self.coarse)


class BatchLoader:
    """Collated batches on the training device for a sequence of index lists, one batch ahead."""

    def __init__(self, store: ItemStore, device: torch.device) -> None:
        self.store = store
        self.device = device
        self.pin = device.type == "cuda" and store.cache_on is None

    def make(self, indices: Sequence[int]) -> Batch:
        batch = collate([self.store[i] for i in indices], self.store.fe.hop, pin_memory=self.pin)
        return batch.to(self.device)

    def batches(self, shares: Sequence[Sequence[int]]) -> Generator[Batch, None, None]:
        """Yield ``make(share)`` for each share; the next one is prepared while the caller uses this one."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rvclora-batches") as pool:
            pending: list[Future[Batch]] = [pool.submit(self.make, s) for s in shares[:1]]
            for k in range(len(shares)):
                batch = pending.pop().result()
                if k + 1 < len(shares):
                    pending.append(pool.submit(self.make, shares[k + 1]))
                yield batch
