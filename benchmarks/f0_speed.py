"""Speed of each F0 method, as × real time on a synthetic voice-like signal (default 60 s at 16 kHz).

RMVPE runs at full size (upstream's rmvpe.pt architecture) with random weights — speed does not depend on the
weight values — in float32, and on CUDA also float16/bfloat16. On a CPU in fp32 it runs packed (the default
there, :mod:`rvclora.features.rmvpe_packed`) and plain side by side. Optional methods run only when their extra is
installed. Prints figures only:

    python benchmarks/f0_speed.py [--seconds 60] [--methods rmvpe harvest dio pm crepe fcpe] [--repeats 1]
        [--dtypes float32]
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import time
from collections.abc import Callable

import numpy as np
from _args import pair
from _record import record

SR = 16000
EXTRA_MODULE = {"pm": "parselmouth", "crepe": "torchcrepe", "fcpe": "torchfcpe"}


def voice_like_signal(seconds: float) -> np.ndarray:
    """A gliding harmonic tone with pauses, so voiced and unvoiced paths both run."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = 180 + 60 * np.sin(2 * np.pi * 0.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    wav = sum(0.3 / k * np.sin(k * phase) for k in range(1, 8)) * (np.sin(2 * np.pi * 0.5 * t) > -0.5)
    rng = np.random.default_rng(0)
    return (wav + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def timed(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


DTYPES: list[str] | None = None  # narrowed by --dtypes


def rmvpe_runs(
    wav: np.ndarray, devices: list[str], windows: tuple[int, int] | None = None
) -> list[tuple[str, str, str, Callable[[], object]]]:
    import torch

    from rvclora.features.rmvpe import Rmvpe
    from rvclora.features.rmvpe_net import RmvpeArch, RmvpeNet

    torch.manual_seed(0)
    net = RmvpeNet(RmvpeArch())
    runs = []
    for device in devices:
        dtypes = ["float32"] + (["float16", "bfloat16"] if device == "cuda" else ["bfloat16"])
        for dtype in (d for d in dtypes if DTYPES is None or d in DTYPES):
            model = Rmvpe(copy.deepcopy(net), device=device, dtype=dtype)  # .to() works in place
            model.f0(wav)  # warm-up: kernels, allocator, the packed weights for this input's shape (CPU)
            runs.append(("rmvpe", device, dtype, lambda m=model: m.f0(wav)))
            if model.packed:  # side by side: the plain U-Net (F.conv2d, batch norm after each convolution)
                plain = Rmvpe(copy.deepcopy(net), device=device, dtype=dtype, packed=False)
                plain.f0(wav)
                runs.append(("rmvpe plain", device, dtype, lambda m=plain: m.f0(wav)))
            if windows and device == "cuda":  # side by side: the BiGRU as overlapping windows in one batch
                windowed = Rmvpe(copy.deepcopy(net), device=device, dtype=dtype, gru_windows=windows)
                windowed.f0(wav[:SR])
                exact, fast = model.f0(wav), windowed.f0(wav)
                both = (exact > 0) & (fast > 0)
                cents = np.abs(1200 * np.log2(fast[both] / exact[both])) if both.any() else np.zeros(1)
                print(
                    f"rmvpe gru windows {windows} {dtype}: voicing differs on {int(((exact > 0) != (fast > 0)).sum())} "
                    f"of {len(exact)} frames, max |F0 difference| {cents.max():.3g} cents (random weights)"
                )
                runs.append(("rmvpe windows", device, dtype, lambda m=windowed: m.f0(wav)))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--methods", nargs="+", default=["rmvpe", "harvest", "dio", "pm", "crepe", "fcpe"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--devices", nargs="+", choices=["cpu", "cuda"], default=["cpu", "cuda"])
    parser.add_argument(
        "--gru-windows", type=pair(int), help="chunk:margin frames: also time RMVPE's BiGRU as windows (CUDA)"
    )
    parser.add_argument("--dtypes", nargs="+", help="RMVPE dtypes to time (default: all for the device)")
    parser.add_argument("--json", help="also merge the figures into this JSON file (key 'f0_x_realtime')")
    args = parser.parse_args()
    global DTYPES
    DTYPES = args.dtypes

    import torch

    from rvclora.features.f0 import load_f0_estimator

    devices = [d for d in args.devices if d == "cpu" or torch.cuda.is_available()]
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    wav = voice_like_signal(args.seconds)
    print(
        f"F0 speed on {args.seconds:g} s of 16 kHz audio; torch {torch.__version__}, "
        f"{torch.get_num_threads()} CPU threads" + (f", {torch.cuda.get_device_name()}" if "cuda" in devices else "")
    )
    print(f"{'method':<14} {'device':<6} {'dtype':<9} {'seconds':>8} {'x realtime':>11}")
    figures = {}
    for method in args.methods:
        module = EXTRA_MODULE.get(method)
        if module and importlib.util.find_spec(module) is None:
            print(f"{method:<14} {'-':<6} {'-':<9} {'not installed':>20}")
            continue
        if method == "rmvpe":
            runs = rmvpe_runs(wav, devices, args.gru_windows)
        elif method in ("crepe", "fcpe"):
            runs = []
            for device in devices:
                est = load_f0_estimator(method, device=device)
                est.estimate(wav[:SR])
                runs.append((method, device, "float32", lambda e=est: e.estimate(wav)))
        else:
            est = load_f0_estimator(method)
            runs = [(method, "cpu", "float64", lambda e=est: e.estimate(wav))]
        for name, device, dtype, fn in runs:
            try:
                seconds = timed(fn, args.repeats, sync)
            except RuntimeError as exc:  # e.g. a dtype the device has no kernels for
                print(f"{name:<14} {device:<6} {dtype:<9} {'failed: ' + str(exc).splitlines()[0][:60]}")
                continue
            print(f"{name:<14} {device:<6} {dtype:<9} {seconds:>8.2f} {args.seconds / seconds:>10.1f}x")
            figures[f"{name} {device} {dtype}"] = args.seconds / seconds
    record(args.json, "f0_x_realtime", {"seconds": args.seconds, **figures})


if __name__ == "__main__":
    main()
