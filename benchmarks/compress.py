"""``rvclora compress`` on a full-size v2-40k model: adapter bytes, audio SNR and CPU time per rank.

The base is a randomly initialised full-size generator; the "voice" is that base after a simulated fine-tune
(:mod:`rvclora.compress.simulate`: every weight gets a random rank-``--true-rank`` change of ``--change`` of
its norm plus full-rank noise of ``--noise`` of it: a dominant low-rank part over a diffuse one, as real
fine-tunes have). Real voices differ, so read the numbers as the method's behaviour, not as a promise for a
given voice. Prints only:

    python benchmarks/compress.py [--ranks 8 16 32 64 auto] [--probe-seconds 2] [--target-snr 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", nargs="+", default=["8", "16", "32", "64", "auto"])
    parser.add_argument("--probe-seconds", type=float, default=2.0)
    parser.add_argument("--target-snr", type=float, default=30.0)
    parser.add_argument("--true-rank", type=int, default=16)
    parser.add_argument("--change", type=float, default=0.05)
    parser.add_argument("--noise", type=float, default=0.005)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()

    import torch

    from rvclora.compress.simulate import simulate_fine_tune
    from rvclora.compress.stage import CompressOptions, compress_model
    from rvclora.models.checkpoint import save_rvc_model
    from rvclora.models.config import standard_config
    from rvclora.models.synthesizer import build_synthesizer

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = build_synthesizer(standard_config("v2", 40000))
        torch.save({"model": base.state_dict()}, folder / "f0G40k.pth")
        base.remove_posterior_encoder()
        save_rvc_model(simulate_fine_tune(base, 1, args.true_rank, args.change, args.noise), folder / "voice.pth")
        source = (folder / "voice.pth").stat().st_size
        print(
            f"voice model: {source / 1e6:.2f} MB (fp16); probe {args.probe_seconds:g} s; "
            f"simulated change rank {args.true_rank}, {args.change:.0%} + {args.noise:.1%} noise"
        )
        print(f"{'rank':>6} {'adapter MB':>11} {'ratio':>7} {'SNR dB':>8} {'MCD dB':>8} {'max|d|':>9} {'time s':>7}")
        for text in args.ranks:
            rank = None if text == "auto" else int(text)
            options = CompressOptions(
                rank=rank, target_snr=args.target_snr, probe_seconds=args.probe_seconds, overwrite=True
            )
            start = time.perf_counter()
            report = compress_model(
                folder / "voice.pth", folder / "f0G40k.pth", folder / f"r{text}.safetensors", options
            )
            took = time.perf_counter() - start
            audio, size = report["audio"], report["bytes"]["adapter"]
            label = f"auto(ε={report['eps']:.2g})" if rank is None else text
            print(
                f"{label:>6} {size / 1e6:>11.2f} {source / size:>7.1f} {audio['snr_db'] or float('inf'):>8.2f} "
                f"{audio['mcd_db'] or 0.0:>8.3f} {audio['max_abs']:>9.2e} {took:>7.1f}"
            )


if __name__ == "__main__":
    main()
