"""Training batches: the background loader yields exactly what collating in the loop would, in order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_train import SR, make_dataset


def _store(root: Path, cache: bool):
    from rvclora.train.data import find_clips
    from rvclora.train.frontend import FrontEnd
    from rvclora.train.loader import ItemStore

    make_dataset(root, n_clips=5)
    clips = find_clips(root / "wav", root / "features", root / "f0")
    return ItemStore(clips, SR, FrontEnd(SR, "v2"), 768, True, torch.device("cpu") if cache else None)


@pytest.mark.parametrize("cache", [False, True])
def test_batches_equal_collate_in_order(tmp_path: Path, cache: bool) -> None:
    from rvclora.train.data import collate
    from rvclora.train.loader import BatchLoader

    store = _store(tmp_path, cache)
    shares = [[0, 3], [4, 1], [2, 2], [1, 0]]
    got = list(BatchLoader(store, torch.device("cpu")).batches(shares))
    assert len(got) == len(shares)
    for share, batch in zip(shares, got, strict=True):
        want = collate([store.load(store.clips[i]) for i in share], store.fe.hop)
        for field in want.__dataclass_fields__:
            torch.testing.assert_close(getattr(batch, field), getattr(want, field), rtol=0, atol=0)
    assert (store[1] is store[1]) == cache  # cached items are kept, others read again


def test_a_bad_clip_fails_the_loop_with_its_one_line_error(tmp_path: Path) -> None:
    from rvclora.errors import BadInputError
    from rvclora.train.loader import BatchLoader

    store = _store(tmp_path, cache=False)
    np.save(store.clips[2].features, np.full((30, 768), np.nan, np.float32))
    stream = BatchLoader(store, torch.device("cpu")).batches([[0, 1], [2, 3], [4, 0]])
    assert next(stream).phone.shape[0] == 2
    with pytest.raises(BadInputError, match="NaN"):
        next(stream)
    stream.close()


def test_stopping_early_leaves_no_thread_behind(tmp_path: Path) -> None:
    import threading

    from rvclora.train.loader import BatchLoader

    store = _store(tmp_path, cache=False)
    stream = BatchLoader(store, torch.device("cpu")).batches([[0], [1], [2], [3]])
    next(stream)
    stream.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("rvclora-batches")]
