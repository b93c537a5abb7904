"""Where the time goes, stage by stage: one real-time stream block and one 60 s ``rvclora infer`` (prints).

Each stage's function is wrapped with a timer that synchronises the device before and after it, so the
figures are wall time per stage (nested stages are listed with their parents, so they add up within a
parent, not across lines). Then torch.profiler's top operators over a few stream blocks. Full-size v2-40k,
HuBERT-base and RMVPE with random weights (benchmarks/random_assets.py).

    python benchmarks/stage_profile.py [--device cuda] [--block 0.1] [--seconds 60] [--json out.json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _args import pair
from _record import record


class StageTimers:
    """Wraps attributes (functions, bound methods, module forwards) with synchronised wall-clock timers."""

    def __init__(self, device: str) -> None:
        self.sync: Callable[[], None] = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, owner: Any, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            self.sync()
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.sync()
                self.seconds[label] += time.perf_counter() - start
                self.calls[label] += 1

        setattr(owner, name, timed)

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def table(self, per: int, unit: str) -> dict[str, float]:
        rows = {label: 1e3 * s / per for label, s in sorted(self.seconds.items(), key=lambda kv: -kv[1])}
        for label, ms in rows.items():
            print(f"  {label:<34} {ms:9.2f} ms per {unit}  ({self.calls[label] / per:g} calls)")
        return rows


def instrument(timers: StageTimers, converter: Any, f0: Any) -> None:
    """Timers on every stage a stream block or an offline conversion runs (on classes, so every instance the
    converter or the stream holds is timed)."""
    import rvclora.audio.io as audio_io
    import rvclora.infer.dsp as dsp
    import rvclora.infer.fast as fast
    import rvclora.infer.pipeline as pipeline
    from rvclora.features.rmvpe import Rmvpe
    from rvclora.features.rmvpe_net import BiGRU, DeepUNet
    from rvclora.infer.voices import Voice

    timers.wrap(audio_io, "resample", "resample (CPU)")
    timers.wrap(dsp, "highpass_48hz", "high-pass (CPU)")
    timers.wrap(dsp, "mix_rms", "rms mix (CPU)")
    timers.wrap(type(converter.encoder), "extract", "hubert")
    if f0 is not None:
        timers.wrap(type(f0), "estimate", "f0")
        timers.wrap(Rmvpe, "mel", "  f0: mel")
        timers.wrap(DeepUNet, "forward", "  f0: u-net")
        timers.wrap(BiGRU, "forward", "  f0: bigru")
    timers.wrap(pipeline, "piece_inputs", "retrieval + protect")
    model = converter.voices[0].model
    timers.wrap(Voice, "generate", "synthesis")
    timers.wrap(type(model.enc_p), "forward", "  synthesis: text encoder")
    timers.wrap(type(model.flow), "forward", "  synthesis: flow")
    timers.wrap(fast, "decode", "  synthesis: decoder")
    timers.wrap(type(model.dec.m_source), "forward", "    decoder: NSF source")


def profile_table(run: Callable[[], object], device: str, per: int) -> dict[str, Any]:
    from torch.profiler import ProfilerActivity, profile

    cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        run()
    events = prof.key_averages()
    launches = sum(e.count for e in events if "LaunchKernel" in e.key) / per
    print(f"  kernel launches per block: {launches:g}")
    for attr in ("self_device_time_total", "cpu_time_total") if cuda else ("self_cpu_time_total",):
        print(events.table(sort_by=attr, row_limit=12))
    top = sorted(events, key=lambda e: e.self_device_time_total if cuda else e.self_cpu_time_total, reverse=True)
    return {"launches_per_block": launches, "top": [e.key for e in top[:12]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--block", type=float, default=0.1)
    ap.add_argument("--edges", type=pair(float), default=(0.02, 0.02), help="lookahead:crossfade in seconds")
    ap.add_argument("--blocks", type=int, default=10, help="timed stream blocks")
    ap.add_argument("--seconds", type=float, default=60.0, help="offline input length (0: skip)")
    ap.add_argument("--json", help="also merge the figures into this JSON file (key 'stage_profile')")
    args = ap.parse_args()

    from random_assets import full_base, full_hubert, full_rmvpe

    from rvclora.infer.converter import Converter
    from rvclora.realtime.settings import DEFAULTS, StreamSettings
    from rvclora.realtime.stream import Stream

    figures: dict[str, Any] = {"device": args.device}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        converter = Converter(
            model=full_base(folder),
            hubert=full_hubert(folder),
            rmvpe=full_rmvpe(folder),
            f0_method="rmvpe",
            device=args.device,
            index_rate=0.0,
        )
        lookahead, crossfade = args.edges
        settings = StreamSettings(args.block, DEFAULTS.context, lookahead, crossfade)
        stream = Stream(converter, 48000, settings=settings)
        n = int(round(args.block * 48000))
        rng = np.random.default_rng(0)
        t = np.arange(n * (args.blocks + 3)) / 48000
        speech = (0.3 * np.sin(2 * np.pi * 150 * t) + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)
        blocks = [speech[i * n : (i + 1) * n] for i in range(args.blocks + 3)]
        for b in blocks[:3]:  # warm-up
            stream.process(b)
        timers = StageTimers(args.device)
        instrument(timers, converter, stream._f0)
        start = time.perf_counter()
        for b in blocks[3:]:
            stream.process(b)
        wall = (time.perf_counter() - start) / args.blocks
        print(
            f"stream block {args.block:g} s on {args.device} ({converter.dtype}), edges {lookahead:g}:{crossfade:g}: "
            f"{1e3 * wall:.1f} ms per block with timers"
        )
        figures["stream_block_ms"] = {"wall_with_timers": 1e3 * wall, **timers.table(args.blocks, "block")}
        record(args.json, "stage_profile", figures)
        figures["stream_profile"] = profile_table(lambda: [stream.process(b) for b in blocks[:3]], args.device, 3)
        record(args.json, "stage_profile", figures)
        if args.seconds:
            from helpers_assets import voice_like

            wav = voice_like(args.seconds)
            converter.convert_many(wav[:16000], 16000)  # warm-up
            timers.reset()
            start = time.perf_counter()
            converter.convert_many(wav, 16000)
            wall = time.perf_counter() - start
            print(f"offline {args.seconds:g} s on {args.device}: {wall:.2f} s with timers")
            figures["offline_ms"] = {"wall_with_timers": 1e3 * wall, **timers.table(1, "input")}
            record(args.json, "stage_profile", figures)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    main()
