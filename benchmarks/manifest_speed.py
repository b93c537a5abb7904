"""Manifest bookkeeping per clip, written at once vs inside ``Manifest.batched`` (what extract and preprocess use).

    python benchmarks/manifest_speed.py [--clips 1000 5000] [--bytes 236844]

For each N, N fake clips (real files of a 3.7 s 16 kHz float32 WAV's size, random bytes) get the bookkeeping
extract does per clip: ``is_fresh`` for features and pitch, then ``record`` for both, into a manifest that
grows from empty to 2N entries. Written at once, every record rewrites the whole file, so the cost per clip
grows with N; batched, one write covers ``max_pending`` records. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from rvclora.workspace.manifest import Manifest

SETTINGS = {"version": "v2", "hubert": {"size": 189507909, "mtime_ns": 1}}


def _make_clips(folder: Path, n: int, size: int) -> list[Path]:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    paths = [folder / f"0_speaker_{i:06d}_abcdef_0000.wav" for i in range(n)]
    for p in paths:
        p.write_bytes(rng.bytes(size))
    return paths


def _bookkeeping(root: Path, clips: list[Path], batched: bool) -> tuple[float, int]:
    """Seconds for the extract-like bookkeeping of every clip (outputs exist already), and the file writes."""
    manifest = Manifest(root / f"manifest-{batched}.json", root)
    writes = [0]
    save = manifest.save

    def counted() -> None:
        writes[0] += 1
        save()

    manifest.save = counted
    out = clips[0]  # an existing file stands in for every output
    start = time.perf_counter()
    with manifest.batched() if batched else contextlib.nullcontext():
        for clip in clips:
            for stage in ("extract.features", "extract.f0"):
                manifest.is_fresh(stage, clip.stem, [clip], SETTINGS)
            for stage in ("extract.features", "extract.f0"):
                manifest.record(stage, clip.stem, [clip], SETTINGS, [out], {"frames": 184, "dim": 768})
    return time.perf_counter() - start, writes[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--bytes", type=int, default=44 + round(3.7 * 16000) * 4, help="size of each fake clip")
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; clip files of {args.bytes} bytes; "
        "per clip: 2x is_fresh + 2x record"
    )
    print(
        f"{'clips':>6}  {'at once ms/clip':>15} {'writes':>7}  {'batched ms/clip':>15} {'writes':>7}  "
        f"{'speed-up':>8}  {'manifest MB':>11}"
    )
    for n in args.clips:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            clips = _make_clips(root / "clips", n, args.bytes)
            t_batched, w_batched = _bookkeeping(root, clips, batched=True)
            t_once, w_once = _bookkeeping(root, clips, batched=False)
            size = (root / "manifest-True.json").stat().st_size / 1e6
        print(
            f"{n:>6}  {1e3 * t_once / n:>15.3f} {w_once:>7}  {1e3 * t_batched / n:>15.3f} {w_batched:>7}  "
            f"{t_once / t_batched:>7.1f}x  {size:>11.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
