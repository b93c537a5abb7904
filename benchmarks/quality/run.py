"""Prove that rvclora learns a voice: an offline quality benchmark, LoRA against full fine-tuning.

    python benchmarks/quality/run.py --scale quick --json results.json

Builds (once, cached under --work) a world of synthesiser voices saying the Harvard sentences, a content
encoder trained here on their phone labels and a reduced-width v2 base pretrained with ``rvclora train
--full`` on every voice but the held-out ones. Then, per held-out voice: ``rvclora sweep`` on its first
sentences, and every variant converts the last sentences spoken by another voice into the target, scored
with ``rvclora eval`` (folder mode, DTW) against the target's own renderings and by pocketsphinx's phone
error rate against the source. Needs Debian's synthesisers (see voices.APT) and ``pip install 'rvclora[phones]'``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from voices import APT, VOICES, missing_tools  # noqa: E402
from world import Scale  # noqa: E402

if TYPE_CHECKING:
    from rvclora.sweep.stage import SweepSummary

SCALES = {
    # quick: sized from measured CPU steps (reduced-width v2 at batch 4 on 2 idle cores: ~3.2 s per base step,
    # ~1.6 s per floor/full step and ~3.2 s per LoRA step) to stay near 45 minutes with the world built;
    # one preset, two ranks: more steps per variant instead of more variants
    "quick": Scale(
        sentences=24,
        convert=4,
        encoder_steps=200,
        base_steps=300,
        sweep_steps=100,
        ranks=(4, 8),
        presets=("voice",),
        widths={
            "inter_channels": 64,
            "hidden_channels": 64,
            "filter_channels": 128,
            "n_heads": 2,
            "n_layers": 3,
            "upsample_initial_channel": 128,
            "gin_channels": 64,
        },
        d_divisor=32,
        batch_size=4,
        f0_method="dio",
    ),
    "full": Scale(
        sentences=40,
        convert=6,
        encoder_steps=4000,
        base_steps=20000,
        sweep_steps=2000,
        ranks=(4, 8, 16, 32),
        presets=("voice", "decoder"),
        widths=None,
        d_divisor=None,
        batch_size=8,
        f0_method="harvest",
    ),
}
DEFAULT_VOICES = (
    "flite_awb",
    "flite_rms",
    "flite_kal",
    "festival_kal",
    "festival_ked",
    "espeak_us",
    "espeak_f3",
    "espeak_m3",
    "flite_slt",
)
DEFAULT_HOLDOUT = ("flite_slt",)
DEFAULT_RANK = 8  # LoRAConfig's default rank: the adapter the targets are about


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=sorted(SCALES), required=True)
    ap.add_argument("--voices", default=",".join(DEFAULT_VOICES), help="comma-separated; see voices.VOICES")
    ap.add_argument("--holdout-voices", default=",".join(DEFAULT_HOLDOUT))
    ap.add_argument("--sentences", type=int, default=None, help="per voice (default: the scale's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("bench-quality"))
    ap.add_argument("--json", type=Path, required=True)
    # smaller runs of the same pipeline (tests, timing): every step count divided by this
    ap.add_argument("--shrink", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    voices = [v for v in args.voices.split(",") if v]
    holdout = [v for v in args.holdout_voices.split(",") if v]
    unknown = [v for v in voices + holdout if v not in VOICES]
    if unknown:
        print(f"error: unknown voice(s) {', '.join(unknown)}; choose from {', '.join(VOICES)}", file=sys.stderr)
        return 2
    missing = missing_tools(voices + holdout)
    if missing:
        print(f"error: the benchmark needs {', '.join(missing)}: run  {APT}", file=sys.stderr)
        return 2
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        print("error: the benchmark needs pocketsphinx: run  pip install 'rvclora[phones]'", file=sys.stderr)
        return 2
    train_voices = [v for v in voices if v not in holdout]
    if len(train_voices) < 2:
        print("error: keep at least two voices out of --holdout-voices for the base", file=sys.stderr)
        return 2
    scale = SCALES[args.scale]
    if args.sentences is not None:
        scale = Scale(
            **{
                **scale.__dict__,
                "sentences": args.sentences,
                "convert": min(scale.convert, max(1, args.sentences // 2)),
            }
        )
    if args.shrink > 1:
        s = args.shrink
        scale = Scale(
            **{
                **scale.__dict__,
                "encoder_steps": max(2, scale.encoder_steps // s),
                "base_steps": max(2, scale.base_steps // s),
                "sweep_steps": max(2, scale.sweep_steps // s),
            }
        )
    t0 = time.perf_counter()
    args.json.parent.mkdir(parents=True, exist_ok=True)

    def publish(report: dict) -> None:  # figures as they come: the JSON is rewritten after every sweep pass
        report.update(scale=args.scale, seconds=round(time.perf_counter() - t0, 1))
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=2))
        tmp.replace(args.json)

    report = run(args.work.resolve(), voices, holdout, train_voices, scale, args.seed, publish)
    print(json.dumps({k: v for k, v in report.items() if k != "per_voice"}, indent=2))
    return 0


def run(
    work: Path,
    voices: list[str],
    holdout: list[str],
    train_voices: list[str],
    scale: Scale,
    seed: int,
    publish: Callable[[dict], None],
) -> dict:
    """Build (or reuse) the world, then adapt to and convert into each held-out voice; ``publish`` gets the
    report so far after every sweep pass (``partial`` until the last) and the final one."""
    import world

    clock = {"t": time.perf_counter()}
    stages: dict[str, float] = {}

    def lap(name: str) -> None:  # seconds per stage (a cached stage takes ~0): for planning longer runs
        now = time.perf_counter()
        stages[name], clock["t"] = round(now - clock["t"], 1), now

    renders = world.render_all(work, sorted(set(voices + holdout)), scale.sentences)
    lap("render")
    labels = world.labels_all(work, {v: renders[v] for v in train_voices})
    lap("align")
    hubert, enc_info = world.content_encoder(work, {v: renders[v] for v in train_voices}, labels, scale, seed)
    lap("encoder")
    base_g, base_d, speakers = world.base_model(work, renders, train_voices, hubert, scale, seed)
    lap("base")
    per_voice: dict[str, dict] = {}

    def report(partial: bool) -> dict:
        return {
            "partial": partial,
            "variants": _mean_variants([pv["variants"] for pv in per_voice.values()]),
            "base_mcd_db": _mean([pv["base_mcd_db"] for pv in per_voice.values()]),
            "base_speaker_similarity": _mean([pv["base_speaker_similarity"] for pv in per_voice.values()]),
            "pitch_semitones": {t: pv["pitch_semitones"] for t, pv in per_voice.items()},
            "voices": voices,
            "holdout_voices": holdout,
            "encoder": enc_info,
            "stage_seconds": stages,
            "curves": {
                "encoder": str(work / "encoder" / "logs"),
                "base": str(work / "base" / "workspace" / "logs"),
                "variants": {t: str(work / "targets" / t / "sweep") for t in holdout},
            },
            "per_voice": per_voice,
        }

    for target in holdout:
        source = train_voices[0] if train_voices[0] != target else train_voices[1]
        for result in adapt_and_convert(work, renders, target, source, speakers, base_g, base_d, hubert, scale, seed):
            per_voice[target] = result
            publish(report(partial=True))
        lap(f"adapt_and_convert:{target}")
    final = report(partial=False)
    publish(final)
    return final


def adapt_and_convert(
    work: Path,
    renders: dict,
    target: str,
    source: str,
    speakers: dict[str, int],
    base_g: Path,
    base_d: Path,
    hubert: Path,
    scale: Scale,
    seed: int,
) -> Iterator[dict]:
    """``rvclora sweep`` on the target's first sentences, then each variant converts ``source``'s last ones.

    Yields the target's result after each sweep pass (see :func:`sweep_passes`), the complete one last.
    """

    from rvclora.sweep.stage import SweepRequest, run_sweep
    from rvclora.sweep.variants import SweepOptions
    from rvclora.workspace.overrides import AssetOverrides, ExtractOverrides, Overrides, TrainOverrides

    adapt = renders[target][: scale.sentences - scale.convert]
    ws = work / "targets" / target
    raw = ws / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for p in adapt:
        if not (raw / p.name).exists():
            (raw / p.name).symlink_to(p.resolve())
    overrides = Overrides(
        input=raw,
        assets=AssetOverrides(base=base_g, base_d=base_d, hubert=hubert),
        f0_method=scale.f0_method,
        train=TrainOverrides(batch_size=scale.batch_size, log_every=5),
        extract=ExtractOverrides(build_index=False),
    )
    for ranks in sweep_passes(scale.ranks):
        options = SweepOptions(ranks=ranks, presets=scale.presets, steps=scale.sweep_steps, holdout=0.1, seed=seed)
        summary = run_sweep(SweepRequest(ws, overrides, options))
        yield convert_and_score(work, renders, target, source, speakers, base_g, hubert, scale, summary)


def sweep_passes(ranks: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The sweep's ranks in passes: the default rank first (with the floor and full fine-tuning: every figure
    the targets need), then all of them (finished variants are reused), so a run cut short still answers."""
    first = (DEFAULT_RANK,) if DEFAULT_RANK in ranks else tuple(sorted(ranks))[:1]
    return [first] if set(first) == set(ranks) else [first, tuple(ranks)]


def convert_and_score(
    work: Path,
    renders: dict,
    target: str,
    source: str,
    speakers: dict[str, int],
    base_g: Path,
    hubert: Path,
    scale: Scale,
    summary: SweepSummary,
) -> dict:
    """Every variant of ``summary`` (and the un-adapted base) converts ``source``'s last sentences into
    ``target``; scored against the target's own renderings. Conversions and scores are cached."""
    import world

    # conversion set: the last sentences, never in the target's adaptation data
    conv = work / "convert" / target
    src_dir, ref_dir = conv / "source", conv / "reference"
    for folder, voice in ((src_dir, source), (ref_dir, target)):
        folder.mkdir(parents=True, exist_ok=True)
        for p in renders[voice][scale.sentences - scale.convert : scale.sentences]:
            if not (folder / p.name).exists():
                shutil.copy(p, folder / p.name)
    # the transposition a user picks: the semitones between the two voices' median F0
    source_f0, target_f0 = world.median_f0(list(src_dir.glob("*.wav"))), world.median_f0(list(ref_dir.glob("*.wav")))
    pitch = round(12 * math.log2(target_f0 / max(source_f0, 1.0)))
    floor = next(v for v in summary.variants if v.name == "embedding")
    common = [
        "--f0-method",
        scale.f0_method,
        "--hubert",
        str(hubert),
        "--index-rate",
        "0",
        "--pitch",
        str(pitch),
        "--overwrite",
    ]
    # the un-adapted base with the nearest training speaker: the 3 closest in median F0, then lowest MCD
    near = sorted(speakers, key=lambda v: abs(math.log2(max(world.median_f0(renders[v][:3]), 1.0) / target_f0)))[:3]
    base_scores = {}
    for voice, sid in ((v, speakers[v]) for v in near):
        out = conv / "base" / voice
        convert(
            src_dir,
            out,
            "--base",
            str(base_g),
            "--lora",
            floor.output,
            "--scale",
            "0",
            "--speaker-id",
            str(sid),
            *common,
        )
        base_scores[voice] = score(ref_dir, src_dir, out)
    nearest = min(
        base_scores, key=lambda v: base_scores[v]["mcd_db"] if base_scores[v]["mcd_db"] is not None else math.inf
    )
    rows = []
    for v in summary.variants:
        out = conv / v.name
        model = ["--model", v.output] if v.kind == "full" else ["--base", str(base_g), "--lora", v.output]
        convert(src_dir, out, *model, *common)
        rows.append(
            {
                "name": v.name,
                "bytes": v.bytes,
                "train_seconds": v.train_seconds,
                "heldout_mcd_db": v.metrics.get("mcd_db"),
                "heldout_f0_rmse_cents": v.metrics.get("f0_rmse_cents"),
                "heldout_speaker_similarity": v.metrics.get("speaker_similarity"),
                "heldout_gain_mcd_pct": v.gain_mcd_pct,
                "heldout_gain_speaker_pct": v.gain_speaker_pct,
                **score(ref_dir, src_dir, out),
            }
        )
    _gains(rows)
    return {
        "variants": rows,
        "base_mcd_db": base_scores[nearest]["mcd_db"],
        "base_speaker_similarity": base_scores[nearest]["speaker_similarity"],
        "base_nearest_speaker": nearest,
        "base_scores": base_scores,
        "source_voice": source,
        "pitch_semitones": pitch,
        "source_median_f0_hz": round(source_f0, 1),
        "target_median_f0_hz": round(target_f0, 1),
        "sweep": summary.to_json(),
    }


def convert(src_dir: Path, out: Path, *args: str) -> None:
    """``rvclora infer`` of the source folder into ``out``; skipped when every output is already there."""
    import world

    if out.is_dir() and all(any(out.glob(p.stem + ".*")) for p in src_dir.glob("*.wav")):
        return
    world.cli("infer", str(src_dir), "-o", str(out), *args)


def score(ref_dir: Path, src_dir: Path, conv_dir: Path) -> dict:
    """``rvclora eval``'s folder mode (DTW; its library, in this process) against the target, plus the phone
    error rate against the source. Cached in ``conv_dir/scores.json``."""
    import librosa

    from rvclora.evaluate.compare import Evaluator
    from rvclora.evaluate.pairing import pair_folders
    from rvclora.evaluate.phones import PhoneRecognizer, phone_error_rate
    from rvclora.evaluate.report import aggregate
    from rvclora.evaluate.settings import EvalSettings

    cached = conv_dir / "scores.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    evaluator = Evaluator(EvalSettings(f0_method="dio"))
    agg = aggregate([evaluator.evaluate(r, c, name=n) for n, r, c in pair_folders(ref_dir, conv_dir).pairs])
    rec = PhoneRecognizer()
    pers = []
    for src in sorted(src_dir.glob("*.wav")):
        conv = next(conv_dir.glob(src.stem + "*"), None)
        if conv is not None:
            pers.append(
                phone_error_rate(
                    rec.phones(librosa.load(src, sr=16000)[0]), rec.phones(librosa.load(conv, sr=16000)[0])
                )
            )
    scores = {
        "mcd_db": agg["mcd_db"]["mean"],
        "f0_rmse_cents": agg["f0_rmse_cents"]["mean"],
        "spectral_convergence": agg["spectral_convergence"]["mean"],
        "speaker_similarity": agg["speaker_similarity"]["mean"],
        "phone_error_rate": _mean(pers),
    }
    cached.write_text(json.dumps(scores))
    return scores


def _gains(rows: list[dict]) -> None:
    from rvclora.sweep.gain import gain_pct

    floor = next(r for r in rows if r["name"] == "embedding")
    full = next((r for r in rows if r["name"] == "full"), None)
    for r in rows:
        r["gain_mcd_pct"] = gain_pct(r["mcd_db"], floor["mcd_db"], full and full["mcd_db"])
        r["gain_speaker_pct"] = gain_pct(
            r["speaker_similarity"], floor["speaker_similarity"], full and full["speaker_similarity"]
        )


def _mean(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _mean_variants(per_voice: list[list[dict]]) -> list[dict]:
    """Each variant's numbers averaged over the held-out voices (the issue's JSON shape)."""
    keys = (
        "bytes",
        "mcd_db",
        "heldout_mcd_db",
        "heldout_f0_rmse_cents",
        "heldout_speaker_similarity",
        "heldout_gain_mcd_pct",
        "heldout_gain_speaker_pct",
        "f0_rmse_cents",
        "speaker_similarity",
        "phone_error_rate",
        "gain_mcd_pct",
        "gain_speaker_pct",
        "train_seconds",
    )
    out = []
    for i, row in enumerate(per_voice[0]):
        out.append({"name": row["name"], **{k: _mean([pv[i].get(k) for pv in per_voice]) for k in keys}})
    return out


if __name__ == "__main__":
    sys.exit(main())
