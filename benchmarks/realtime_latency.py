"""Real-time latency: algorithmic latency and compute time per block of ``rvclora.Stream`` (prints only).

Full-size v2-40k f0 model and HuBERT-base-sized encoder with random weights (benchmarks/random_assets.py;
speed does not depend on the values), 48 kHz in and out, RMVPE (full size, random weights) or ``--f0 dio``.
For each block size: the algorithmic latency (block + lookahead + crossfade), the median and worst compute
time per block after one warm-up block, and the total (algorithmic + median compute). A block is real time
when its compute is shorter than the block.

    python benchmarks/realtime_latency.py [--blocks 0.1 0.25 0.5] [--steps 5] [--context 1.0] [--device cpu]
        [--pitch-context 0.5 1.0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch
from _args import pair
from _record import record

from rvclora.realtime.settings import DEFAULTS, StreamSettings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=float, nargs="+", default=[0.1, 0.25, 0.5])
    ap.add_argument("--steps", type=int, default=5, help="timed blocks per size (after the warm-up blocks)")
    ap.add_argument("--warmup", type=int, default=1, help="blocks run before timing, per size")
    ap.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN time its algorithms per shape")
    ap.add_argument("--context", type=float, default=None, help="seconds of context (default: the stream's)")
    ap.add_argument(
        "--pitch-context",
        type=float,
        nargs="+",
        default=[DEFAULTS.pitch_context],
        help="seconds of past audio the pitch estimator sees; several values are timed side by side",
    )
    ap.add_argument("--f0", default="rmvpe", choices=["rmvpe", "dio"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument(
        "--edges",
        nargs="+",
        type=pair(float),
        default=[(DEFAULTS.lookahead, DEFAULTS.crossfade)],
        help="lookahead:crossfade pairs in seconds to time at each block size (default: the stream's)",
    )
    ap.add_argument("--json", help="also merge the figures into this JSON file (key 'realtime_latency')")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark

    from random_assets import full_base, full_hubert, full_rmvpe

    from rvclora.infer.converter import Converter
    from rvclora.realtime.stream import Stream

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rmvpe = full_rmvpe(folder) if args.f0 == "rmvpe" else None
        converter = Converter(
            model=full_base(folder),
            hubert=full_hubert(folder),
            rmvpe=rmvpe,
            f0_method=args.f0,
            device=args.device,
            precision=args.precision,
            index_rate=0.0,
        )
        context = DEFAULTS.context if args.context is None else args.context
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, device "
            f"{args.device}, load average {load:.2f}; v2-40k f0 (full size, random weights), f0 {args.f0}, "
            f"context {context} s, 48 kHz, {args.warmup} warm-up blocks, cudnn.benchmark {args.cudnn_benchmark}"
        )
        print(
            f"{'block s':>8} {'lookahead':>9} {'crossfade':>9} {'pitch ctx':>9} {'algorithmic s':>14} "
            f"{'compute med s':>14} "
            f"{'compute max s':>14} {'total s':>8} {'compute/block':>14}  real time"
        )
        rng = np.random.default_rng(0)
        figures: dict[str, object] = {
            "cudnn_benchmark": args.cudnn_benchmark,
            "warmup_blocks": args.warmup,
            "device": args.device,
            "f0": args.f0,
            "dtype": str(converter.dtype).removeprefix("torch."),
        }
        runs = ((b, e, pc) for b in args.blocks for e in args.edges for pc in args.pitch_context)
        for block, (lookahead, crossfade), pitch_context in runs:
            settings = StreamSettings(block, context, lookahead, crossfade, pitch_context)
            stream = Stream(converter, 48000, settings=settings)
            n = int(round(block * 48000))
            t = np.arange(n * (args.steps + args.warmup)) / 48000
            speech = (0.3 * np.sin(2 * np.pi * 150 * t) + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)
            for i in range(args.steps + args.warmup):
                stream.process(speech[i * n : (i + 1) * n])
            timed = stream.stats.compute_s[args.warmup :]
            med = statistics.median(timed)
            print(
                f"{block:>8g} {lookahead:>9g} {crossfade:>9g} {pitch_context:>9g} "
                f"{settings.latency:>14.3f} {med:>14.3f} "
                f"{max(timed):>14.3f} {settings.latency + med:>8.3f} {med / block:>14.2f}  "
                f"{'yes' if med < block else 'no'}"
            )
            figures[
                f"block {block:g} s, lookahead {lookahead:g} s, crossfade {crossfade:g} s, context {context:g} s"
                + (f", pitch context {pitch_context:g} s" if args.f0 == "rmvpe" else "")
                + (", cudnn benchmark" if args.cudnn_benchmark else "")
            ] = {
                "algorithmic_s": settings.latency,
                "compute_median_s": med,
                "compute_max_s": max(timed),
                "total_s": settings.latency + med,
            }
            record(args.json, "realtime_latency", figures)
    if hasattr(os, "getloadavg"):
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
