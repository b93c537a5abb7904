"""The benchmark's world, built once per work folder and reused: renders, phone labels, content encoder, base.

Every step writes its result under ``WORK`` and is skipped when the result is already there, so a second run
(or a run after an interruption) starts where the last one stopped.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sentences import HARVARD, words
from voices import RATE, render


@dataclass(frozen=True)
class Scale:
    """Sizes of one benchmark scale."""

    sentences: int  # per voice
    convert: int  # the last N sentences: never seen by the target's adaptation; converted and scored
    encoder_steps: int
    base_steps: int
    sweep_steps: int
    ranks: tuple[int, ...]
    presets: tuple[str, ...]
    widths: dict | None  # reduced v2-40k widths; None = the standard config
    d_divisor: int | None  # narrow fresh discriminator; None = full width
    batch_size: int
    f0_method: str


BASE_LR = 2e-4  # HiFi-GAN's learning rate, for a base trained from scratch
SOURCE_MERGE = "dec.m_source.l_linear"  # the NSF source's sine → excitation merge in a G state dict


def cli(*args: str, cwd: Path | None = None) -> str:
    """Run ``python -m rvclora ARGS``; stdout on success, a clear failure otherwise."""
    res = subprocess.run([sys.executable, "-m", "rvclora", *args], capture_output=True, text=True, cwd=cwd)
    if res.returncode != 0:
        raise SystemExit(f"rvclora {' '.join(args[:2])} failed:\n{res.stderr[-3000:]}")
    return res.stdout


def render_all(work: Path, voices: list[str], n: int) -> dict[str, list[Path]]:
    """``work/voices/<voice>/s<i>.wav`` for the first ``n`` Harvard sentences."""
    out: dict[str, list[Path]] = {}
    for v in voices:
        paths = []
        for i, text in enumerate(HARVARD[:n]):
            p = work / "voices" / v / f"s{i:02d}.wav"
            if not p.is_file():
                render(v, text, p)
            paths.append(p)
        out[v] = paths
    return out


def labels_all(work: Path, renders: dict[str, list[Path]]) -> dict[str, list[np.ndarray]]:
    """Frame phone labels of every rendering (forced alignment), cached next to the audio."""
    from labels import Aligner, label_file

    aligner = None
    out: dict[str, list[np.ndarray]] = {}
    for v, paths in renders.items():
        out[v] = []
        for i, p in enumerate(paths):
            dest = p.with_suffix(".phones.npy")
            if dest.is_file():
                out[v].append(np.load(dest))
                continue
            aligner = aligner or Aligner()
            out[v].append(label_file(aligner, p, words(HARVARD[i]), dest))
    return out


def content_encoder(
    work: Path, renders: dict[str, list[Path]], labels: dict[str, list[np.ndarray]], scale: Scale, seed: int
) -> tuple[Path, dict]:
    """``work/encoder/hubert_base.pt``: trained on every voice's renders (content only, no speaker target)."""
    import soundfile as sf
    from encoder import train_encoder
    from labels import PHONES

    dest = work / "encoder" / "hubert_base.pt"
    info_path = dest.with_suffix(".json")
    if dest.is_file() and info_path.is_file():
        return dest, json.loads(info_path.read_text())
    # the aligned ones
    pairs = [(p, lab) for v in renders for p, lab in zip(renders[v], labels[v], strict=False) if len(lab)]
    wavs = [sf.read(p, dtype="float32")[0] for p, _ in pairs]
    labs = [lab for _, lab in pairs]
    from torch.utils.tensorboard import SummaryWriter

    board = SummaryWriter(str(work / "encoder" / "logs"))
    try:
        info = train_encoder(wavs, labs, len(PHONES), dest, scale.encoder_steps, seed=seed, log=board)
    finally:
        board.close()
    info_path.write_text(json.dumps(info))
    return dest, info


def base_model(
    work: Path, renders: dict[str, list[Path]], train_voices: list[str], hubert: Path, scale: Scale, seed: int
) -> tuple[Path, Path, dict[str, int]]:
    """Pretrain a generator + discriminator with ``rvclora train --full`` on a multi-speaker workspace; return
    training-layout G and D files (from the last checkpoint: RVC's G_*.pth/D_*.pth) and voice → speaker id."""
    import torch

    from rvclora.fileio import atomic_torch_save, safe_torch_load
    from rvclora.models.config import standard_config
    from rvclora.models.discriminator import MultiPeriodDiscriminator

    folder = work / "base"
    g_out, d_out = folder / "G_base.pth", folder / "D_base.pth"
    speakers = {v: i for i, v in enumerate(sorted(train_voices))}  # preprocess numbers subfolders in sorted order
    recipe = {
        "voices": sorted(train_voices),
        "steps": scale.base_steps,
        "lr": BASE_LR,
        "widths": scale.widths,
        "d_divisor": scale.d_divisor,
        "batch_size": scale.batch_size,
        "f0_method": scale.f0_method,
        "seed": seed,
        "source_merge": "identity",
    }
    recipe_path = folder / "recipe.json"
    if g_out.is_file() and d_out.is_file():
        try:
            built = json.loads(recipe_path.read_text())
        except (OSError, ValueError):
            built = None
        if built != json.loads(json.dumps(recipe)):
            raise SystemExit(
                f"error: the base in {folder} was built with other settings (or before recipe.json existed): "
                "remove that folder or give another --work"
            )
        return g_out, d_out, speakers
    ws = folder / "workspace"
    for v in train_voices:
        (ws / "raw" / v).mkdir(parents=True, exist_ok=True)
        for p in renders[v]:
            link = ws / "raw" / v / p.name
            if not link.exists():
                link.symlink_to(p.resolve())
    config = standard_config("v2", 40000, True)
    if scale.widths:
        config = config.replace(**scale.widths)
    init_g, init_d = folder / "init_G.pth", folder / "init_D.pth"
    if not init_g.is_file():
        init_generator(init_g, config, seed)
        torch.manual_seed(seed + 1)
        d = MultiPeriodDiscriminator("v2", **({"width_divisor": scale.d_divisor} if scale.d_divisor else {}))
        atomic_torch_save({"model": d.state_dict()}, init_d)
    cli(
        "train",
        str(ws),
        "--full",
        "--base",
        str(init_g),
        "--base-d",
        str(init_d),
        "--hubert",
        str(hubert),
        "--f0-method",
        scale.f0_method,
        "--max-steps",
        str(scale.base_steps),
        "--epochs",
        str(scale.base_steps),
        "--batch-size",
        str(scale.batch_size),
        "--lr",
        str(BASE_LR),
        "--seed",
        str(seed),
        "--val-fraction",
        "0",
        "--save-every",
        "1",  # every epoch: an interrupted base resumes instead of starting over
        "--keep",
        "1",
        "--json",
    )
    states = sorted((ws / "checkpoints").glob("state_*.pt"))
    state = safe_torch_load(states[-1], "training checkpoint")
    atomic_torch_save({"model": state["trainable"], "iteration": state["progress"]["step"]}, g_out)
    atomic_torch_save({"model": state["discriminator"], "iteration": state["progress"]["step"]}, d_out)
    recipe_path.write_text(json.dumps(recipe, indent=2))
    return g_out, d_out, speakers


def init_generator(g_path: Path, config, seed: int) -> None:
    """A fresh generator for ``config`` at ``g_path``, its NSF source's merge layer set to the identity
    (weight 1, bias 0) so the decoder hears the sine of its F0 input from the first step.

    The merge is a 1x1 ``Linear`` whose default init is uniform in (-1, 1): a draw near 0 (seed 0 of the quick
    widths gives -0.0075) scales the sine to nothing, the decoder learns to ignore it and every output comes out
    at a constant ~100 Hz (the frame rate) whatever F0 it is given. RVC's pretrained bases have a trained merge;
    a base trained here from scratch must start with its pitch input switched on.
    """
    import torch

    from rvclora.demo.assets import build_base
    from rvclora.fileio import atomic_torch_save, safe_torch_load

    build_base(g_path, None, config, seed)
    ckpt = safe_torch_load(g_path, "initial generator")
    model = ckpt["model"]
    model[SOURCE_MERGE + ".weight"] = torch.ones_like(model[SOURCE_MERGE + ".weight"])
    model[SOURCE_MERGE + ".bias"] = torch.zeros_like(model[SOURCE_MERGE + ".bias"])
    atomic_torch_save(ckpt, g_path)


def median_f0(paths: list[Path]) -> float:
    """Median voiced F0 (Hz) over files, by DIO (enough to pick a transposition)."""
    import soundfile as sf

    from rvclora.pkg_resources_compat import import_pyworld

    pyworld = import_pyworld()

    voiced = []
    for p in paths:
        wav = sf.read(p, dtype="float64")[0]
        f0, _ = pyworld.dio(wav, RATE)
        voiced.append(f0[f0 > 0])
    allv = np.concatenate(voiced) if voiced else np.zeros(0)
    return float(np.median(allv)) if len(allv) else 0.0
