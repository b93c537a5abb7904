"""Peak memory (RSS) of ``rvclora infer`` against input length (prints only): it should be flat.

Each length runs in a fresh process (peak RSS is per process) that converts a file of that length with
:meth:`Converter.convert_file`, the path ``rvclora infer`` takes. Models are the tests' tiny ones (memory
that depends on the input comes from the pipeline, not the weights) with dio pitch; ``--random`` uses
full-size random-weight v2 40k and HuBERT-base models instead (slow on a CPU). ``--stand-in`` replaces the
content encoder and the synthesizer by stand-ins that return outputs of the right shapes at once: everything
else (decoding, spooling, cut points, dio pitch, stitching, loudness mix, resampling, encoding) is the real
code, so long inputs can be measured on a small CPU; the models' own memory is per piece and does not grow
with the input. ``--in-memory`` measures the old whole-input path (``convert`` on the decoded file).

    python benchmarks/infer_memory.py [--minutes 1 10 30] [--random | --stand-in] [--in-memory]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def write_input(path: Path, minutes: float, sr: int = 44100) -> None:
    """A voice-like mono file written block by block (this script's own memory stays small too)."""
    import soundfile as sf
    from helpers_assets import voice_like

    with sf.SoundFile(path, "w", sr, 1, subtype="PCM_16") as fh:
        for i in range(int(minutes * 6)):
            fh.write(voice_like(10.0, sr=sr, f0=110 + 10 * (i % 7), seed=i, pause=True))


def build_models(folder: Path, random: bool) -> dict[str, str]:
    from helpers_assets import build_adapter, build_tiny_hubert

    if random:
        from random_assets import full_base, full_hubert

        hubert, base = full_hubert(folder), full_base(folder)
    else:
        hubert = build_tiny_hubert(folder / "hubert.pt", "v2")
        base = ROOT.parent / "shared/fixtures/reference/v2_40k_f0_tiny.pth"
        if not base.is_file():
            base = ROOT / "shared/fixtures/reference/v2_40k_f0_tiny.pth"
    adapter = build_adapter(folder / "voice.safetensors", base, seed=1)
    return {"hubert": str(hubert), "base": str(base), "adapter": str(adapter)}


class _StandIn:
    """Content encoder and voice stand-ins: right shapes, no compute (see the module docstring)."""

    name, version, f0, sr, retrievers = "v", "v2", True, 40000, []

    def extract(self, wav: np.ndarray, version: str) -> np.ndarray:
        return np.ones((wav.shape[0] // 320, 768), np.float32)

    def generate(self, feats: np.ndarray, coarse: np.ndarray, hz: np.ndarray, speaker_id: int = 0) -> np.ndarray:
        t = np.arange(feats.shape[0] * 400) / 40000
        return (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def stand_in(args: argparse.Namespace) -> None:
    from rvclora.features.f0 import load_f0_estimator
    from rvclora.infer.chunking import FP32
    from rvclora.infer.longform import convert_pieces
    from rvclora.infer.options import ConvertOptions
    from rvclora.infer.outputs import OutputTarget
    from rvclora.infer.source import prepare_input

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        prepared = prepare_input(Path(args.input), Path(work))
        fake = _StandIn()
        sinks, _ = convert_pieces(
            prepared,
            [fake],
            fake,
            load_f0_estimator("dio"),
            FP32,
            ConvertOptions(),
            {"v": OutputTarget(Path(args.output))},
            Path(work),
        )
        sinks["v"].write()
        sinks["v"].close()
        prepared.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": round(peak), "after_load_mb": 0, "seconds": round(time.perf_counter() - start, 1)}))


def child(args: argparse.Namespace) -> None:
    """Convert one file and print peak RSS (MB) and the elapsed time as JSON."""
    if args.stand_in:
        stand_in(args)
        return
    from rvclora.infer.converter import Converter

    models = json.loads(args.models)
    conv = Converter(
        lora=models["adapter"],
        base=models["base"],
        hubert=models["hubert"],
        f0_method="dio",
        device="cpu",
        index_rate=0.0,
    )
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    if args.in_memory:
        from rvclora.audio.io import load_audio, save_audio

        audio, sr = load_audio(args.input)
        out, out_sr = conv.convert(audio, sr)
        save_audio(args.output, out, out_sr)
    else:
        conv.convert_file(args.input, args.output)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"peak_mb": round(peak), "after_load_mb": round(loaded), "seconds": round(time.perf_counter() - start, 1)}
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0, 30.0])
    ap.add_argument("--random", action="store_true", help="full-size random-weight models instead of tiny ones")
    ap.add_argument("--in-memory", action="store_true", help="the whole-input path, for comparison")
    ap.add_argument("--stand-in", action="store_true", help="stand-ins for the encoder and synthesizer")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--models", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--output", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = {} if args.stand_in else build_models(folder, args.random)
        path = "in-memory (convert)" if args.in_memory else "piecewise (convert_file)"
        kind = "stand-in" if args.stand_in else "random full-size" if args.random else "tiny"
        print(f"# {path}, {kind} models, dio F0, torch threads {torch.get_num_threads()}")
        print(f"{'input':>8}  {'peak RSS':>9}  {'after load':>10}  {'time':>8}")
        for minutes in args.minutes:
            src = folder / f"in_{minutes:g}min.wav"
            write_input(src, minutes)
            cmd = (
                [
                    sys.executable,
                    __file__,
                    "--child",
                    "--models",
                    json.dumps(models),
                    "--input",
                    str(src),
                    "--output",
                    str(folder / "out.wav"),
                ]
                + (["--in-memory"] if args.in_memory else [])
                + (["--stand-in"] if args.stand_in else [])
            )
            res = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                print(f"{minutes:>6g} m  failed: {res.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(
                f"{minutes:>6g} m  {r['peak_mb']:>6} MB  {r['after_load_mb']:>7} MB  {r['seconds']:>7.1f}s", flush=True
            )
            src.unlink()


if __name__ == "__main__":
    main()
