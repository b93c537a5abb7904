"""Adapter size per target preset and rank, for a full-size RVC generator (random weights: size does not
depend on the values), plus the wall time of ``rvclora --help`` (which must not import torch).

Prints params (LoRA factors + whole modules such as emb_g) and bytes on disk of the default fp16
``.safetensors`` file; ``--dtype float32`` for full precision:

    python benchmarks/adapter_size.py [--version v2] [--sr 40000] [--ranks 4 8 16 32] [--dtype float16]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def help_wall_time() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rvclora", "--help"], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="v2", choices=["v1", "v2"])
    parser.add_argument("--sr", default=40000, type=int, choices=[32000, 40000, 48000])
    parser.add_argument("--ranks", nargs="+", type=int, default=[4, 8, 16, 32])
    parser.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    args = parser.parse_args()

    import torch

    from rvclora.console import human_bytes, show, table
    from rvclora.lora.adapter import save_lora
    from rvclora.lora.config import DEFAULT_PRESET, PRESETS, LoRAConfig
    from rvclora.lora.inject import add_lora, remove_lora
    from rvclora.models.config import standard_config
    from rvclora.models.synthesizer import build_synthesizer

    model = build_synthesizer(standard_config(args.version, args.sr))
    model.remove_posterior_encoder()
    base_params = sum(p.numel() for p in model.parameters())
    dtype = getattr(torch, args.dtype)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in PRESETS:
            for rank in args.ranks:
                wrapped = add_lora(model, LoRAConfig(rank=rank, alpha=float(rank), targets=preset))
                path = save_lora(model, Path(tmp) / f"{preset}-{rank}.safetensors", dtype=dtype)
                lora = sum(layer.numel() for n, layer in model.named_parameters() if ".lora_" in n)
                size = path.stat().st_size
                remove_lora(model)
                name = f"{preset}*" if preset == DEFAULT_PRESET else preset
                rows.append(
                    (
                        name,
                        rank,
                        len(wrapped),
                        f"{lora:,}",
                        f"{100 * lora / base_params:.2f} %",
                        f"{size:,}",
                        human_bytes(size),
                    )
                )
    title = (
        f"{args.version} {args.sr // 1000}k generator ({base_params:,} params without enc_q), {args.dtype}; "
        "* = default preset"
    )
    show(table(title, ["preset", "rank", "layers", "LoRA params", "of base", "bytes", "size"], rows))
    show(f"rvclora --help: {help_wall_time():.2f} s wall")


if __name__ == "__main__":
    main()
