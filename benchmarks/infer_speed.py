"""Real-time factor of ``rvclora infer`` (prints only).

Measures 10 s and 60 s inputs on CPU (and CUDA when available) in fp32 and fp16, split into HuBERT, F0,
retrieval and synthesis, and compares converting one input to 8 voices (``convert_many``: analysis once)
with 1 voice + 7 extra synthesis passes. Without ``--hubert``/``--base`` it builds full-size RVC v2 40k and
HuBERT-base models with random weights (same cost as the real ones, no downloads).

    python benchmarks/infer_speed.py [--hubert hubert_base.pt --base f0G40k.pth] [--seconds 10 60]
    python benchmarks/infer_speed.py --f0-method rmvpe --index     # the issue's end-to-end case
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _record import record
from helpers_assets import build_adapter, voice_like
from random_assets import full_base, full_hubert, full_rmvpe, voice_index

from rvclora.infer.converter import Converter


def row(label: str, seconds: float, elapsed: float, timings: dict[str, float]) -> dict[str, float]:
    parts = "  ".join(f"{k} {v:6.2f}s" for k, v in sorted(timings.items()))
    ratio = elapsed / timings["synthesis"] if timings.get("synthesis") else float("nan")
    print(f"{label:<28} RTF {elapsed / seconds:6.3f}  total {elapsed:6.2f}s  {parts}  total/synthesis {ratio:.2f}")
    return {"x_realtime": seconds / elapsed, "total_s": elapsed, **{f"{k}_s": v for k, v in timings.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hubert", type=Path)
    ap.add_argument("--base", type=Path)
    ap.add_argument("--seconds", type=float, nargs="+", default=[10.0, 60.0])
    ap.add_argument("--f0-method", default="dio", help="rmvpe: with --rmvpe, or a random full-size RMVPE")
    ap.add_argument("--rmvpe", type=Path)
    ap.add_argument("--index", action="store_true", help="retrieval on (index_rate 0.75) over a random index")
    ap.add_argument("--precisions", nargs="+", default=["fp32", "fp16"], help="e.g. fp32 only on a small CPU")
    ap.add_argument("--voices", type=int, default=8, help="voices of the convert_many comparison (0: skip it)")
    ap.add_argument("--devices", nargs="+", choices=["cpu", "cuda"], default=["cpu", "cuda"])
    ap.add_argument("--json", help="also merge the figures into this JSON file (key 'infer_x_realtime')")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rvclora-bench-"))
    hubert, base = (args.hubert, args.base) if args.hubert and args.base else (full_hubert(tmp), full_base(tmp))
    rmvpe = args.rmvpe or (full_rmvpe(tmp) if args.f0_method == "rmvpe" else None)
    index = voice_index(tmp) if args.index else None
    retrieval = {"index": index, "index_rate": 0.75} if index else {}
    adapters = [
        build_adapter(tmp / f"v{i}.safetensors", base, seed=i, targets="decoder+flow", rank=8)
        for i in range(max(args.voices, 1))
    ]
    devices = [d for d in args.devices if d == "cpu" or torch.cuda.is_available()]
    figures: dict[str, object] = {"f0_method": args.f0_method, "index": bool(index)}
    for device in devices:
        for precision in args.precisions:
            conv = Converter(
                lora=adapters[0],
                base=base,
                hubert=hubert,
                rmvpe=rmvpe,
                f0_method=args.f0_method,
                device=device,
                precision=precision,
                **retrieval,
            )
            for seconds in args.seconds:
                wav = voice_like(seconds)
                conv.convert_many(wav[:16000], 16000)  # warm-up
                start = time.perf_counter()
                result = conv.convert_many(wav, 16000)[0]
                label = f"{device} {precision} {seconds:.0f}s"
                figures[label] = row(label, seconds, time.perf_counter() - start, result.timings)
                record(args.json, "infer_x_realtime", figures)
        if args.voices < 2:
            continue
        many = Converter(
            lora=adapters,
            each=True,
            base=base,
            hubert=hubert,
            rmvpe=rmvpe,
            f0_method=args.f0_method,
            device=device,
            **retrieval,
        )
        wav = voice_like(args.seconds[0])
        many.convert_many(wav[:16000], 16000)
        start = time.perf_counter()
        results = many.convert_many(wav, 16000)
        eight = time.perf_counter() - start
        one = sum(results[0].timings.values())
        extra = sum(r.timings.get("synthesis", 0.0) + r.timings.get("retrieval", 0.0) for r in results[1:])
        print(
            f"{device}: {args.voices} voices {eight:.2f}s; 1 voice {one:.2f}s + {args.voices - 1} synthesis "
            f"passes {extra:.2f}s "
            f"= {one + extra:.2f}s; ratio {eight / (one + extra):.2f} (target <= 1.5)"
        )
        figures[f"{device} {args.voices} voices"] = {
            "total_s": eight,
            "one_voice_plus_synthesis_passes_s": one + extra,
            "ratio": eight / (one + extra),
        }
        record(args.json, "infer_x_realtime", figures)


if __name__ == "__main__":
    main()
