"""Feature-extraction speed, in × real time (seconds of audio per second of compute).

    python benchmarks/extract_speed.py [--seconds 60] [--only hubert] [--repeat 2]
    python benchmarks/extract_speed.py --stage-clips 200 --seconds 60     # the whole stage, HuBERT + RMVPE

Each family of extractors registers a function in ``BENCHES`` that returns result rows; F0 methods are
added the same way. HuBERT runs at full HuBERT-base size with random weights (speed does not depend on
the values) on CPU in fp32 (plain, and with the linear layers packed for oneDNN: ``load_content_encoder``'s
default there) and, when CUDA is available, in fp32/fp16/bf16 — next to transformers' HubertModel with the
same weights when transformers is installed. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from _record import record

from rvclora.features.hubert import ContentEncoder
from rvclora.features.hubert_packed import pack_linears, packed_linear_available

SR = 16000


@dataclass
class Row:
    name: str
    device: str
    dtype: str
    seconds: float  # best of the repeats
    audio_seconds: float

    @property
    def x_real_time(self) -> float:
        return self.audio_seconds / self.seconds


def _time(fn: Callable[[], object], device: str, repeat: int) -> float:
    """Best wall time of ``repeat`` runs after one warm-up run (CUDA work is synchronised)."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    fn()
    sync()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


DEVICES: list[str] = ["cpu", "cuda"]  # narrowed by --devices


def _devices() -> list[tuple[str, list[torch.dtype]]]:
    out = [("cpu", [torch.float32])] if "cpu" in DEVICES else []
    if torch.cuda.is_available() and "cuda" in DEVICES:
        out.append(("cuda", [torch.float32, torch.float16, torch.bfloat16]))
    return out


def bench_hubert(wav: np.ndarray, repeat: int) -> list[Row]:
    """rvclora's HuBERT (v2 = layer 12, the longest path) vs transformers' HubertModel, same weights."""
    net, _ = _full_hubert()
    hf_model = _transformers_twin(net)
    seconds = len(wav) / SR
    rows = []
    for device, dtypes in _devices():
        for dtype in dtypes:
            enc = ContentEncoder(net.to(device=device, dtype=dtype), normalize=False, source=Path("random-hubert-base"))
            t = _time(lambda enc=enc: enc.extract(wav, "v2"), device, repeat)
            rows.append(Row("rvclora HuBERT", device, str(dtype).removeprefix("torch."), t, seconds))
            if device == "cpu" and dtype == torch.float32 and packed_linear_available():
                packed = copy.deepcopy(net)
                pack_linears(packed)  # what load_content_encoder does on a CPU in fp32
                enc = ContentEncoder(packed, normalize=False, source=Path("random-hubert-base"), packed=True)
                t = _time(lambda enc=enc: enc.extract(wav, "v2"), device, repeat)
                rows.append(Row("rvclora HuBERT packed", device, "float32", t, seconds))
            if hf_model is not None:
                model = hf_model.to(device=device, dtype=dtype)
                x = torch.from_numpy(wav)[None].to(device=device, dtype=dtype)

                def run_hf(model=model, x=x) -> object:
                    with torch.inference_mode():
                        return model(x).last_hidden_state

                t = _time(run_hf, device, repeat)
                rows.append(Row("transformers HubertModel", device, str(dtype).removeprefix("torch."), t, seconds))
    return rows


def _full_hubert() -> tuple[torch.nn.Module, object]:
    """HuBERT-base-sized network with random weights (speed and memory do not depend on the values)."""
    from rvclora.features.hubert_load import parse_conv_layers
    from rvclora.features.hubert_model import HubertArch, HubertNet

    arch = HubertArch(
        conv_layers=parse_conv_layers("[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2"),
        extractor_mode="default",
        conv_bias=False,
        embed_dim=768,
        ffn_dim=3072,
        num_layers=12,
        num_heads=12,
        conv_pos=128,
        conv_pos_groups=16,
        layer_norm_first=False,
        final_dim=256,
        post_extract_proj=True,
    )
    torch.manual_seed(0)
    return HubertNet(arch).eval().requires_grad_(False), arch


def _transformers_twin(net: torch.nn.Module) -> torch.nn.Module | None:
    """transformers' HubertModel holding ``net``'s weights, or None when transformers is absent."""
    try:
        import transformers
    except ImportError:
        print("transformers not installed: skipping the side-by-side comparison")
        return None
    from rvclora.features.hubert_load import hf_to_fairseq_name

    model = transformers.HubertModel(transformers.HubertConfig()).eval().requires_grad_(False)
    mine = net.state_dict()
    theirs = {
        name: mine[hf_to_fairseq_name(name, group_norm=True)]
        for name in model.state_dict()
        if hf_to_fairseq_name(name, group_norm=True) in mine
    }
    model.load_state_dict(theirs, strict=False)
    return model


BENCHES: dict[str, Callable[[np.ndarray, int], list[Row]]] = {"hubert": bench_hubert}


def peak_memory(minutes: float, clip_seconds: float = 4.0, f0_method: str = "dio") -> None:
    """Peak RSS while extracting ``minutes`` of audio clip by clip (HuBERT-base v2 features + F0), as the
    extract stage does after preprocess: it must stay flat whatever the corpus length. Run once per length
    in a fresh process (ru_maxrss is a process-lifetime peak)."""
    import resource

    from rvclora.features.f0 import load_f0_estimator

    net, _ = _full_hubert()
    enc = ContentEncoder(net, normalize=False, source=Path("random-hubert-base"))
    est = load_f0_estimator(f0_method)
    rng = np.random.default_rng(0)
    clip = int(clip_seconds * SR)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    for _ in range(int(minutes * 60 / clip_seconds)):  # clips are made on the fly: the corpus is on disk
        wav = (0.1 * rng.standard_normal(clip)).astype(np.float32)
        enc.extract(wav, "v2")
        est.estimate(wav)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"{minutes:g} min in {clip_seconds:g} s clips (HuBERT + {f0_method}): peak RSS {peak / 1024:.0f} MiB "
        f"(models loaded: {before / 1024:.0f} MiB), {minutes * 60 / (time.perf_counter() - start):.1f}x real time"
    )


def stage_speed(n_clips: int, long_seconds: float) -> dict[str, float]:
    """The extract stage end to end (reading, HuBERT-base features, RMVPE pitch, writing, bookkeeping, the
    silence item; no index) on ``n_clips`` clips of 3.7 s (what preprocess makes) and on one clip of
    ``long_seconds``, on the best device (CUDA with its fp16 default, else the CPU in fp32), timed from the
    moment the models are loaded."""
    import shutil
    import tempfile

    import soundfile as sf
    from random_assets import full_hubert, full_rmvpe

    from rvclora.devices import resolve_precision
    from rvclora.features.extract import ClipPaths, ExtractOptions, Layout, extract_clips
    from rvclora.workspace.manifest import Manifest

    device = "cuda" if torch.cuda.is_available() else "cpu"
    root = Path(tempfile.mkdtemp(prefix="rvclora-extract-"))
    options = ExtractOptions(
        hubert=full_hubert(root),
        version="v2",
        sr=40000,
        f0_method="rmvpe",
        rmvpe=full_rmvpe(root),
        device=device,
        precision=resolve_precision("auto", device).value,
        build_index=False,
    )
    rng = np.random.default_rng(0)
    figures = {}
    for label, lengths in ((f"{n_clips} x 3.7 s clips", [3.7] * n_clips), (f"1 x {long_seconds:g} s", [long_seconds])):
        work = root / "work"
        shutil.rmtree(work, ignore_errors=True)
        clips_dir = work / "clips16"
        clips_dir.mkdir(parents=True)
        clips = []
        for i, seconds in enumerate(lengths):
            path = clips_dir / f"0_{i:05d}.wav"
            sf.write(path, (0.1 * rng.standard_normal(int(seconds * SR))).astype(np.float32), SR, subtype="FLOAT")
            clips.append(ClipPaths(path.stem, work / "clips" / path.name, path))
        layout = Layout(work / "clips", clips_dir, work / "features", work / "f0", work / "index")
        extract_clips(clips[:1], layout, options, Manifest(work / "warm.json", work), force=True)  # warm-up
        started: list[float] = []  # when the models are loaded and the clips start
        extract_clips(
            clips,
            layout,
            options,
            Manifest(work / "manifest.json", work),
            force=True,
            on_start=lambda _, mark=started.append: mark(time.perf_counter()),
        )
        elapsed = time.perf_counter() - started[0]
        print(
            f"extract stage, {label:<20} {device:<6} {options.precision:<5} {elapsed:8.2f} s "
            f"{sum(lengths) / elapsed:9.1f}x real time (after loading the models)"
        )
        figures[label] = sum(lengths) / elapsed
    shutil.rmtree(root, ignore_errors=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the test audio")
    parser.add_argument("--only", choices=sorted(BENCHES), action="append", help="run only these families")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per case (best is shown)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument(
        "--stage-clips",
        type=int,
        default=0,
        help="instead: the extract stage end to end (HuBERT + RMVPE) on this many 3.7 s clips "
        "and on one clip of --seconds",
    )
    parser.add_argument(
        "--memory-minutes",
        type=float,
        default=0.0,
        help="instead: peak RSS of extracting this many minutes clip by clip (HuBERT + dio)",
    )
    parser.add_argument("--devices", nargs="+", choices=["cpu", "cuda"], default=["cpu", "cuda"])
    parser.add_argument("--json", help="also merge the figures into this JSON file (key 'extract_x_realtime')")
    args = parser.parse_args()
    DEVICES[:] = args.devices
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_minutes:
        peak_memory(args.memory_minutes)
        return
    if args.stage_clips:
        record(args.json, "extract_stage_x_realtime", stage_speed(args.stage_clips, args.seconds))
        return
    rng = np.random.default_rng(0)
    wav = (0.1 * rng.standard_normal(int(args.seconds * SR))).astype(np.float32)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no CUDA")
    )
    print(f"{'extractor':<26} {'device':<6} {'dtype':<9} {'seconds':>8} {'x real time':>12}")
    figures = {}
    for family in args.only or list(BENCHES):
        for row in BENCHES[family](wav, args.repeat):
            print(f"{row.name:<26} {row.device:<6} {row.dtype:<9} {row.seconds:8.3f} {row.x_real_time:12.1f}")
            figures[f"{row.name} {row.device} {row.dtype}"] = row.x_real_time
    record(args.json, "extract_x_realtime", {"seconds": args.seconds, **figures})


if __name__ == "__main__":
    main()
