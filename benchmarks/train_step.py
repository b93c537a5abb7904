"""Step time and peak memory of LoRA vs --full training on the full-size v2-40k model (prints, no asserts).

    python benchmarks/train_step.py                 # CUDA if available, batches 8 and 32
    python benchmarks/train_step.py --tiny          # CPU smoke: tiny fixture G + small D, batch 2

Reports per configuration: seconds per step, items/s, the share of the step spent in the discriminator
(forward+backward of D's own update plus its forward in the G update), and peak memory (CUDA only).
Weights are random (a full-size G/D of the right shapes): speed and memory do not depend on the values.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(mode: str, batch_size: int, device: torch.device, tiny: bool, steps: int) -> dict[str, float]:
    from rvclora.lora.config import LoRAConfig
    from rvclora.lora.inject import add_lora
    from rvclora.models.config import front_end, standard_config
    from rvclora.models.discriminator import MultiPeriodDiscriminator
    from rvclora.models.synthesizer import build_synthesizer
    from rvclora.train.data import Batch
    from rvclora.train.forward import TrainingGenerator
    from rvclora.train.loop import _FrontEnd, _step
    from rvclora.train.options import TrainOptions
    from rvclora.train.precision import choose_precision
    from rvclora.workspace.schema import defaults

    if tiny:
        from rvclora.models.checkpoint import load_synthesizer

        ref = Path(__file__).resolve().parents[2] / "shared/fixtures/reference/v2_40k_f0_tiny.G.pth"
        net = load_synthesizer(ref)
        disc: torch.nn.Module = MultiPeriodDiscriminator("v2", width_divisor=64, periods=(2, 3))
    else:
        net = build_synthesizer(standard_config("v2", 40000))
        disc = MultiPeriodDiscriminator("v2")
    settings = {k.split(".", 1)[1]: v for k, v in defaults().items() if k.startswith("train.")}
    opts = TrainOptions.from_settings(settings, str(device))
    if mode == "lora":
        add_lora(net, LoRAConfig(rank=8))
        for p in net.enc_q.parameters():
            p.requires_grad_(False)
    net.train().to(device)
    disc.train().to(device)
    fe = _FrontEnd(40000, "v2")
    seg, hop = fe.fe.segment_frames, fe.fe.hop_length
    frames = 200
    b = batch_size
    batch = Batch(torch.randn(b, frames, 768), torch.full((b,), frames), torch.randint(1, 255, (b, frames)),
                  torch.full((b, frames), 150.0), torch.rand(b, fe.fe.spec_channels, frames),
                  0.1 * torch.randn(b, 1, frames * hop), torch.zeros(b, dtype=torch.long)).to(device)
    gen = TrainingGenerator(net, seg, hop)
    precision = choose_precision("auto", device)
    opt_g = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-4)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=1e-4)
    scaler = precision.scaler()
    d_time = [0.0]
    real_forward = disc.forward

    def timed_forward(*a, **k):
        _sync(device)
        t = time.perf_counter()
        out = real_forward(*a, **k)
        _sync(device)
        d_time[0] += time.perf_counter() - t
        return out

    disc.forward = timed_forward  # D forward time; D backward is estimated as 2x forward below
    starts = torch.zeros(b, dtype=torch.long)
    for _ in range(2):  # warm-up
        _step(gen, disc, batch, starts, fe, opts, precision, scaler, opt_g, opt_d, disc, net)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    d_time[0] = 0.0
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        _step(gen, disc, batch, starts, fe, opts, precision, scaler, opt_g, opt_d, disc, net)
    _sync(device)
    total = (time.perf_counter() - t0) / steps
    d_share = min(1.0, 3 * d_time[0] / steps / total)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    return {"s_per_step": total, "items_per_s": b / total, "d_share": d_share, "peak_gib": peak,
            "trainable_M": trainable / 1e6, "precision": precision.name}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny fixture G + small D on CPU (smoke run)")
    ap.add_argument("--batch", type=int, nargs="*", default=None, help="batch sizes (default 8 32; tiny: 2)")
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    batches = args.batch or ([2] if args.tiny else [8, 32])
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}), "
          f"{'tiny fixture' if args.tiny else 'full-size v2-40k'}")
    print(f"{'mode':6} {'batch':>5} {'s/step':>8} {'items/s':>8} {'D share':>8} {'peak GiB':>9} {'trainable M':>12}")
    for b in batches:
        for mode in ("lora", "full"):
            try:
                r = bench(mode, b, device, args.tiny, args.steps)
            except torch.OutOfMemoryError:
                print(f"{mode:6} {b:>5} out of memory")
                continue
            print(f"{mode:6} {b:>5} {r['s_per_step']:8.3f} {r['items_per_s']:8.1f} {r['d_share']:8.0%} "
                  f"{r['peak_gib']:9.2f} {r['trainable_M']:12.2f}  {r['precision']}")
            if device.type == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
