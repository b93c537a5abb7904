"""Training step: the eager reference beside rvclora's full fine-tuning and LoRA steps (prints, no asserts).

    python benchmarks/train_step.py                  # CUDA if available: full-size v2-40k, batches 8 and 32
    python benchmarks/train_step.py --size tiny      # CPU smoke: tiny fixture G + narrow D, batch 2
    python benchmarks/train_step.py --size full --batch 1 --steps 2   # full size on a CPU (slow)

Variants, each on fresh random weights of the same shapes (speed and memory do not depend on the values):
- ``reference``: :func:`rvclora.train.step.reference_step`, the step written straightforwardly as upstream
  does (two D passes per update, D weight gradients computed and discarded in the G update, a host read
  per loss), with torch's default AdamW on CUDA (foreach), full fine-tuning;
- ``full``: rvclora's step (``rvclora train --full``), with fused AdamW;
- ``lora``: rvclora's step with a rank-8 adapter, default preset, frozen convolutions keeping only their
  weight for backward (``rvclora train``).

Per variant: median seconds per step and items/s; peak CUDA memory (GPU only); the peak bytes autograd keeps
for backward (any device: the activation side of memory); kernels per step, i.e. computing aten operations,
views not counted (any device: on a GPU each is one launch, which is what a launch-bound step scales with);
trainable parameters.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from _record import record
from torch.utils._python_dispatch import TorchDispatchMode

TINY_G = Path(__file__).resolve().parents[2] / "shared/fixtures/reference/v2_40k_f0_tiny.G.pth"
VARIANTS = ("reference", "full", "lora")
FRAMES = 200  # latent frames per item (2 s); the decoder sees one segment of them


# Operations that allocate or read a host scalar without launching a kernel.
_NO_KERNEL = {
    torch.ops.aten._local_scalar_dense,
    torch.ops.aten.empty,
    torch.ops.aten.new_empty,
    torch.ops.aten.empty_like,
    torch.ops.aten.empty_strided,
    torch.ops.aten.new_empty_strided,
}


class KernelCounter(TorchDispatchMode):
    """Counts the aten operations inside the block that compute (forward, backward and optimizer): what a GPU
    would launch a kernel for. Views (``view``, ``slice``, ``detach`` …), allocations and reads of host scalars
    are not counted, since they launch nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        returns = func._schema.returns
        is_view = any(r.alias_info is not None and not r.alias_info.is_write for r in returns)
        if not is_view and func.overloadpacket not in _NO_KERNEL:
            self.count += 1
        return func(*args, **(kwargs or {}))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(variant: str, size: str, batch_size: int, device: torch.device) -> dict[str, Any]:
    """Models, optimizers and one batch for a variant."""
    from rvclora.lora.config import LoRAConfig
    from rvclora.lora.inject import add_lora
    from rvclora.models.config import standard_config
    from rvclora.models.discriminator import MultiPeriodDiscriminator
    from rvclora.models.synthesizer import build_synthesizer
    from rvclora.train.data import Batch
    from rvclora.train.forward import TrainingGenerator
    from rvclora.train.frontend import FrontEnd
    from rvclora.train.precision import choose_precision
    from rvclora.train.step import Critic, Optimisers, StepModules, make_optimiser

    torch.manual_seed(0)
    if size == "tiny":
        from rvclora.models.checkpoint import load_synthesizer

        net = load_synthesizer(TINY_G)
        disc = MultiPeriodDiscriminator("v2", width_divisor=64, periods=(2, 3))
    else:
        net = build_synthesizer(standard_config("v2", 40000))
        disc = MultiPeriodDiscriminator("v2")
    if variant == "lora":
        add_lora(net, LoRAConfig(rank=8))
        for p in net.enc_q.parameters():
            p.requires_grad_(False)
    net.train().to(device)
    disc.train().to(device)
    fe = FrontEnd(40000, "v2")
    b = batch_size
    batch = Batch(
        torch.randn(b, FRAMES, net.config.content_dim),
        torch.full((b,), FRAMES),
        torch.randint(1, 255, (b, FRAMES)),
        torch.full((b, FRAMES), 150.0),
        torch.rand(b, fe.fe.spec_channels, FRAMES),
        0.1 * torch.randn(b, 1, FRAMES * fe.hop),
        torch.zeros(b, dtype=torch.long),
    ).to(device)
    params = [p for p in net.parameters() if p.requires_grad]
    hyper = argparse.Namespace(lr=1e-4, betas=(0.8, 0.99), eps=1e-9, weight_decay=0.01)
    if variant == "reference":
        # torch's default AdamW on CUDA (foreach), asked for explicitly so a CPU run counts the same launches
        opt_g = torch.optim.AdamW(params, lr=1e-4, betas=(0.8, 0.99), eps=1e-9, foreach=True)
        opt_d = torch.optim.AdamW(disc.parameters(), lr=1e-4, betas=(0.8, 0.99), eps=1e-9, foreach=True)
    else:
        opt_g, opt_d = make_optimiser(params, hyper), make_optimiser(disc.parameters(), hyper)
    precision = choose_precision("auto", device)
    modules = StepModules(TrainingGenerator(net, fe.segment, fe.hop), Critic(disc), net, disc)
    return {
        "modules": modules,
        "batch": batch,
        "fe": fe,
        "precision": precision,
        "opt": Optimisers(opt_g, opt_d, precision.scaler()),
        "trainable": sum(p.numel() for p in params),
        "starts": torch.zeros(b, dtype=torch.long),
    }


def run_step(variant: str, parts: dict[str, Any]) -> None:
    from rvclora.train.step import read_scalars, reference_step, train_step

    args = (parts["modules"], parts["batch"], parts["starts"], parts["fe"], 45.0, 1.0, parts["precision"], parts["opt"])
    if variant == "reference":
        reference_step(*args)
    else:
        read_scalars(train_step(*args))  # the training loop's one read per step


def bench(variant: str, size: str, batch_size: int, device: torch.device, steps: int) -> dict[str, float]:
    from rvclora.train.frozen import lean_frozen_convs

    parts = build(variant, size, batch_size, device)
    net = parts["modules"].net
    with lean_frozen_convs(net) if variant == "lora" else contextlib.nullcontext():  # as rvclora train does
        return _measure(variant, parts, batch_size, device, steps)


def _measure(
    variant: str, parts: dict[str, Any], batch_size: int, device: torch.device, steps: int
) -> dict[str, float]:
    from rvclora.train.meter import SavedTensorMeter

    for _ in range(2):  # warm-up (allocator, kernels, optimizer state)
        run_step(variant, parts)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps):
        _sync(device)
        t0 = time.perf_counter()
        run_step(variant, parts)
        _sync(device)
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    with SavedTensorMeter() as meter:
        run_step(variant, parts)
    with KernelCounter() as ops:
        run_step(variant, parts)
    median = statistics.median(times)
    return {
        "s_per_step": median,
        "items_per_s": batch_size / median,
        "peak_gib": peak,
        "saved_gib": meter.peak / 2**30,
        "ops": ops.count,
        "trainable_M": parts["trainable"] / 1e6,
        "precision": parts["precision"].name,
    }


def profile_step(variant: str, size: str, batch_size: int, device: torch.device) -> dict[str, Any]:
    """torch.profiler over three steps after warm-up: the top operators by device time (CPU time on a CPU)
    and the kernels launched per step."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    from rvclora.train.frozen import lean_frozen_convs

    parts = build(variant, size, batch_size, device)
    cuda = device.type == "cuda"
    steps = 3
    with lean_frozen_convs(parts["modules"].net) if variant == "lora" else contextlib.nullcontext():
        for _ in range(2):
            run_step(variant, parts)
        _sync(device)
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities) as prof:
            for _ in range(steps):
                run_step(variant, parts)
            _sync(device)
    events = prof.key_averages()
    attr = "self_device_time_total" if cuda else "self_cpu_time_total"
    launch_calls = sum(e.count for e in events if "LaunchKernel" in e.key)
    kernels = sum(e.count for e in events if e.device_type == DeviceType.CUDA)
    top = sorted(events, key=lambda e: getattr(e, attr), reverse=True)[:15]
    return {
        "launches_per_step": launch_calls / steps if cuda else None,
        "device_kernels_per_step": kernels / steps if cuda else None,
        "top": [
            {"name": e.key, "calls_per_step": e.count / steps, "ms_per_step": getattr(e, attr) / 1e3 / steps}
            for e in top
        ],
        "table": events.table(sort_by=attr, row_limit=15),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("tiny", "full"), default=None, help="default: full on CUDA, tiny on CPU")
    ap.add_argument("--batch", type=int, nargs="*", default=None, help="batch sizes (default 8 32; tiny: 2)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    ap.add_argument(
        "--shared-d-max",
        type=int,
        default=None,
        help="override SHARED_D_PASS_MAX (batch size up to which D judges real and generated audio "
        "in one pass), e.g. 0 to see the large-batch schedule at a small batch",
    )
    ap.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN time its algorithms per shape")
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    ap.add_argument("--json", help="also merge the figures into this JSON file (key 'train')")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="instead: torch.profiler's top kernels and the launches per step of each variant, at the first batch",
    )
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    if args.shared_d_max is not None:
        import rvclora.train.step

        rvclora.train.step.SHARED_D_PASS_MAX = args.shared_d_max
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    size = args.size or ("full" if device.type == "cuda" else "tiny")
    batches = args.batch or ([8, 32] if size == "full" else [2])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    from rvclora.train.step import SHARED_D_PASS_MAX

    print(
        f"torch {torch.__version__}, {name}; {'full-size v2-40k' if size == 'full' else 'tiny fixture G'}, "
        f"{FRAMES}-frame items, median of {args.steps} steps; one D pass per D update up to batch "
        f"{SHARED_D_PASS_MAX}"
    )
    print(
        f"{'variant':10} {'batch':>5} {'s/step':>8} {'items/s':>8} {'peak GiB':>9} {'saved GiB':>10} "
        f"{'kernels':>9} {'trainable M':>12}"
    )
    if args.profile:
        for variant in args.variants:
            summary = profile_step(variant, size, batches[0], device)
            print(f"--- {variant}, batch {batches[0]}: {summary['launches_per_step']} kernel launches per step")
            print(summary["table"])
            record(args.json, f"train_profile_{variant}_batch{batches[0]}", summary)
        return
    figures: dict[str, Any] = {}
    for b in batches:
        results = figures[f"batch{b}"] = {}
        for variant in args.variants:
            try:
                r = results[variant] = bench(variant, size, b, device, args.steps)
            except torch.OutOfMemoryError:
                print(f"{variant:10} {b:>5} out of memory")
                continue
            finally:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            print(
                f"{variant:10} {b:>5} {r['s_per_step']:8.3f} {r['items_per_s']:8.1f} {r['peak_gib']:9.2f} "
                f"{r['saved_gib']:10.3f} {r['ops']:9d} {r['trainable_M']:12.2f}  {r['precision']}"
            )
        if {"reference", "full", "lora"} <= results.keys():
            ref, full, lora = results["reference"], results["full"], results["lora"]
            mem = "peak_gib" if device.type == "cuda" else "saved_gib"
            print(
                f"  batch {b}: full = {ref['s_per_step'] / full['s_per_step']:.2f}x the reference's speed, "
                f"{full['ops'] / ref['ops']:.2f}x its ops; lora = {lora['s_per_step'] / full['s_per_step']:.2f}x "
                f"full's time, {lora[mem] / full[mem]:.2f}x its {mem.split('_')[0]} memory"
            )
            results["ratios"] = {
                "full_speed_vs_reference": ref["s_per_step"] / full["s_per_step"],
                "lora_time_vs_full": lora["s_per_step"] / full["s_per_step"],
                f"lora_{mem}_vs_full": lora[mem] / full[mem],
            }
        key = "train_cudnn_benchmark" if args.cudnn_benchmark else "train"
        record(args.json, key, {"size": size, "frames_per_item": FRAMES, "steps": args.steps, **figures})


if __name__ == "__main__":
    main()
