"""Synthesis speed: the eager reference vs rvclora's fast path, side by side in one run (prints only).

Full-size v2-40k f0 synthesizer with random weights (speed does not depend on the values) and a rank-8
adapter of the default preset with non-zero factors; ``--seconds`` of input (100 frames per second).

* ``eager``: the reference — the model loaded as is: weight norm recomputed every forward, the adapter
  attached unmerged, fp32, ``torch.no_grad``, torch's default threads;
* ``eager+merged``: what ``Converter(fast=False)`` runs (a single adapter is merged at load);
* ``fast``: what ``Converter()`` runs (merged, weight norm folded, in-place decoder, inference mode);
* ``fast onednn``: ``Converter()``'s default on CPU without onnxruntime (``--backend auto``/``onednn``): the
  fast path with its decoder tiles on oneDNN convolutions with weights packed per tile shape, channels-last,
  fused activations (packing time is not timed: it happens once per shape, in the warm-up);
* ``fast onnx``: ``Converter()``'s default where onnxruntime is installed (``--backend auto``): the fast path
  with its decoder tiles on onnxruntime (the same weights; export time is not timed, it is cached);
* ``fast onnx 1d``: the same with the decoder exported as 1-D convolutions (EXPORT_VERSION 1, before the
  2-D export that lets onnxruntime use its NCHWc kernels), to show what that change is worth;
* ``upstream`` (``--upstream DIR``): upstream RVC's own ``SynthesizerTrnMs768NSFsid`` from a checkout of
  Retrieval-based-Voice-Conversion-WebUI, loaded with the merged weights, run as upstream's inference does
  (weight norm on, ``torch.no_grad``); speed-ups are then also printed against it;
* ``fast bf16`` (``--bf16``): the fast path in bfloat16 — a precision choice, not the same numbers
  (its max |difference| to fp32 is printed).

Runs are interleaved (one of each per round) so background load hits every variant alike; the median and the
best of ``--repeats`` rounds are printed. ``--profile`` prints torch.profiler's top operators per variant.

The SNR of each output against ``eager`` is printed (dB; identical outputs print inf).

    python benchmarks/synthesis_speed.py [--seconds 10] [--repeats 3] [--threads 0] [--bf16] [--profile]
        [--upstream DIR] [--only eager,fast,...]
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import statistics
import time
from collections.abc import Callable

import torch


def build_models(rank: int) -> dict[str, torch.nn.Module]:
    from rvclora.infer.fast import prepare_fast
    from rvclora.lora.config import LoRAConfig
    from rvclora.lora.inject import add_lora, lora_layers
    from rvclora.lora.merge import merge_lora
    from rvclora.models.config import standard_config
    from rvclora.models.synthesizer import build_synthesizer

    torch.manual_seed(0)
    model = build_synthesizer(standard_config("v2", 40000, True))
    model.remove_posterior_encoder()
    add_lora(model, LoRAConfig(rank=rank, alpha=float(rank)))
    with torch.no_grad():
        for _, layer in lora_layers(model):
            layer.lora_B.normal_(0.0, 0.01)  # B starts at zero: make the adapter do something
    model.eval()
    merged = merge_lora(copy.deepcopy(model)).eval()
    fast = prepare_fast(copy.deepcopy(merged))
    models = {"eager": model, "eager+merged": merged, "fast": fast}
    from rvclora.infer.backends import onednn_available, onnx_available

    if onednn_available():
        models["fast onednn"] = fast
    if onnx_available():
        models["fast onnx"] = fast
        models["fast onnx 1d"] = fast
    return models


def upstream_model(checkout: str, merged: torch.nn.Module) -> torch.nn.Module:
    """Upstream's v2 f0 synthesizer class from ``checkout``, with ``merged``'s weights (same state-dict names)."""
    import sys

    sys.path.insert(0, checkout)
    try:
        from infer.module.models import SynthesizerTrnMs768NSFsid  # current upstream layout
    except ImportError:
        from infer.lib.infer_pack.models import SynthesizerTrnMs768NSFsid  # older releases
    c = merged.config
    net = SynthesizerTrnMs768NSFsid(
        c.spec_channels,
        c.segment_size,
        c.inter_channels,
        c.hidden_channels,
        c.filter_channels,
        c.n_heads,
        c.n_layers,
        c.kernel_size,
        c.p_dropout,
        c.resblock,
        c.resblock_kernel_sizes,
        c.resblock_dilation_sizes,
        c.upsample_rates,
        c.upsample_initial_channel,
        c.upsample_kernel_sizes,
        c.spk_embed_dim,
        c.gin_channels,
        c.sr,
        is_half=False,
    )
    del net.enc_q  # as upstream's inference does
    net.load_state_dict(merged.state_dict())  # strict: every weight carried over
    return net.eval()


def runner(name: str, model: torch.nn.Module, frames: int, dtype: torch.dtype) -> Callable[[], torch.Tensor]:
    from rvclora.infer.backends import tile_runner
    from rvclora.infer.fast import fast_infer

    backend = {"fast onnx": "onnx", "fast onednn": "onednn"}.get(name, "torch")
    tiles = tile_runner(backend, model.dec)
    if name == "fast onnx 1d":
        import atexit
        import shutil
        import tempfile
        from pathlib import Path

        from rvclora.infer.backends.onnx_decoder import OnnxTileDecoder, export, input_names

        path = Path(tempfile.mkdtemp(prefix="rvclora-bench-")) / "decoder-1d.onnx"
        atexit.register(shutil.rmtree, path.parent, True)
        export(model.dec, path, two_d=False)
        tiles = OnnxTileDecoder(path, input_names(model.dec))

    g = torch.Generator().manual_seed(1)
    phone = torch.randn(1, frames, 768, generator=g).to(dtype)
    lengths = torch.tensor([frames])
    pitch = torch.randint(1, 255, (1, frames), generator=g)
    pitchf = (150.0 + 50.0 * torch.rand(1, frames, generator=g)).to(dtype)
    sid = torch.tensor([0])

    def run() -> torch.Tensor:
        torch.manual_seed(2)  # same noise for every variant
        if name.startswith("fast"):
            return fast_infer(model, phone, lengths, sid, pitch, pitchf, runner=tiles)
        with torch.no_grad():
            return model.infer(phone, lengths, pitch, pitchf, sid)[0]

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--bf16", action="store_true", help="also time the fast path in bfloat16")
    ap.add_argument("--upstream", help="an upstream RVC checkout: also time its synthesizer on the same weights")
    ap.add_argument("--only", help="comma-separated variants to time (default: all)")
    ap.add_argument("--profile", action="store_true", help="print torch.profiler's top operators per variant")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    frames = int(args.seconds * 100)
    models = build_models(args.rank)
    if args.upstream:
        models["upstream"] = upstream_model(args.upstream, models["eager+merged"])
    if args.only:
        keep = {"eager", *args.only.split(",")}
        models = {k: v for k, v in models.items() if k in keep}
    runs = {name: runner(name, m, frames, torch.float32) for name, m in models.items()}
    if args.bf16:
        runs["fast bf16"] = runner(
            "fast bf16", copy.deepcopy(models["fast"]).to(torch.bfloat16), frames, torch.bfloat16
        )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}; v2-40k f0, {args.seconds:g} s input, adapter rank {args.rank}"
    )
    outputs = {name: run() for name, run in runs.items()}  # warm-up, and the outputs to compare
    ref = outputs["eager"].float()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["eager"])
    up = statistics.median(times["upstream"]) if "upstream" in times else None
    print(
        f"{'variant':<14} {'median s':>9} {'best s':>8} {'RTF':>7} {'speed-up':>9} {'vs upstream':>12} "
        f"{'max|diff| vs eager':>19} {'SNR dB':>7}"
    )
    for name, ts in times.items():
        med = statistics.median(ts)
        err = outputs[name].float() - ref
        diff = float(err.abs().max())
        snr = 10 * math.log10(float((ref**2).sum()) / max(float((err**2).sum()), 1e-30))
        vs_up = f"{up / med:11.2f}x" if up else f"{'':>12}"
        print(
            f"{name:<14} {med:9.2f} {min(ts):8.2f} {med / args.seconds:7.3f} {base / med:8.2f}x {vs_up} "
            f"{diff:19.2e} {snr:7.1f}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        for name, run in runs.items():
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                run()
            print(f"--- {name}")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


if __name__ == "__main__":
    main()
