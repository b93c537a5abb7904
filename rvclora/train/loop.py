"""The training run: RVC's GAN recipe (§6) on a LoRA-wrapped (or fully trainable) generator.

One step = discriminator update on detached audio, then generator update with
mel L1 × c_mel + KL × c_kl + LSGAN + 2 × feature matching, exactly as upstream; what differs is which
generator tensors are trainable, and that everything needed to resume step for step is checkpointed.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from rvclora.errors import BadInputError, ConfigError, IncompatibleError
from rvclora.train.data import Item, clip_frames, epoch_batches, split_validation
from rvclora.train.distributed import World, setup_world
from rvclora.train.forward import TrainingGenerator
from rvclora.train.frontend import FrontEnd
from rvclora.train.frozen import lean_frozen_convs
from rvclora.train.interrupt import StepGuard, TrainingInterrupted
from rvclora.train.loader import BatchLoader, ItemStore
from rvclora.train.logs import Board, JsonlLog
from rvclora.train.options import TrainJob
from rvclora.train.plan import Estimate, StepTimer, TrainPlan, audio_warnings
from rvclora.train.precision import choose_precision
from rvclora.train.slicing import random_starts
from rvclora.train.state import (
    capture_rng,
    list_states,
    newest_intact_state,
    restore_rng,
    save_state,
    state_path,
)
from rvclora.train.step import Critic, Optimisers, StepModules, make_optimiser, read_scalars, train_step

if TYPE_CHECKING:
    from rvclora.models.discriminator import MultiPeriodDiscriminator
    from rvclora.models.synthesizer import Synthesizer

EXPLODED = 1e6  # a total generator loss above this is divergence, not a bad batch
JSONL_NAME = "train.jsonl"


@dataclass
class TrainResult:
    output: Path | None  # final adapter (or RVC model with --full); None when nothing was trained
    epochs_done: int
    steps: int
    stopped: str  # "finished", "max_steps", "early_stopping", "already_finished"
    resumed_from: Path | None
    fresh_discriminator: bool
    history: list[dict[str, Any]] = field(default_factory=list)  # per-epoch records
    net: nn.Module | None = None  # the trained synthesizer (adapter attached), for callers and tests
    warnings: list[str] = field(default_factory=list)  # told before the first step too (TrainPlan)

    def summary(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        return {
            "output": None if self.output is None else str(self.output),
            "epochs": self.epochs_done,
            "steps": self.steps,
            "stopped": self.stopped,
            "resumed_from": None if self.resumed_from is None else str(self.resumed_from),
            "discriminator": "fresh (no base D given)" if self.fresh_discriminator else "from base D",
            "last_mel": last.get("loss_mel"),
            "last_val_mel": last.get("val_mel"),
            "warnings": self.warnings,
        }


def run_training(
    job: TrainJob,
    on_plan: Callable[[TrainPlan], None] | None = None,
    on_estimate: Callable[[Estimate], None] | None = None,
) -> TrainResult:
    """Train (or resume) one adapter; see docs/training.md. Under torchrun every rank calls this.

    ``on_plan`` is told the run ahead before its first step (step count, audio, warnings); ``on_estimate`` the
    duration once the first steps are timed (main rank only). Ctrl-C stops on a step boundary, saves that
    step's checkpoint and adapter, and raises :class:`TrainingInterrupted`.
    """
    from rvclora.console import err

    opts = job.options
    world = setup_world(opts.device)
    device = world.device
    precision = choose_precision(opts.precision, device)
    torch.manual_seed(opts.seed)
    import random

    import numpy as np

    random.seed(opts.seed)
    np.random.seed(opts.seed % 2**32)

    net, fingerprint = _load_generator(job, device)
    fe = FrontEnd(job.sr, job.version)
    segment, hop = fe.segment, fe.hop
    disc, fresh_d = _load_discriminator(job, device)

    train_clips, val_clips = _split(job, segment, hop, world, err)
    lengths = [clip_frames(c, hop) for c in train_clips]
    items = ItemStore(train_clips, job.sr, fe, net.config.content_dim, job.f0, device if opts.cache else None)
    loader = BatchLoader(items, device)
    val_items = [items.load(c) for c in val_clips]
    held_out = val_items[0] if val_items else items.load(train_clips[0])
    _check_speakers(train_clips + val_clips, net)

    trainer = TrainingGenerator(net, segment, hop).to(device)
    g_module: nn.Module = trainer
    d_module: nn.Module = Critic(disc)
    if world.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        g_module = DDP(trainer, device_ids=ids)
        d_module = DDP(d_module, device_ids=ids)
    modules = StepModules(g_module, d_module, net, disc)

    opt_g = make_optimiser(_param_groups(net, opts), opts)
    opt_d = make_optimiser(disc.parameters(), opts)
    sched_g = torch.optim.lr_scheduler.ExponentialLR(opt_g, gamma=opts.lr_decay)
    sched_d = torch.optim.lr_scheduler.ExponentialLR(opt_d, gamma=opts.lr_decay)
    scaler = precision.scaler()
    optim = Optimisers(opt_g, opt_d, scaler)
    slice_gen = torch.Generator().manual_seed(opts.seed)

    mode = "full" if opts.full else "lora"
    if job.restart and world.main:
        for old in list_states(job.checkpoints_dir):
            old.unlink(missing_ok=True)
    world.barrier()
    resumed_from, st = (
        (None, None)
        if job.restart
        else newest_intact_state(job.checkpoints_dir, fingerprint, mode, set_aside=world.main)
    )
    progress_state: dict[str, Any] = {
        "epoch": 1,
        "batch": 0,
        "step": 0,
        "best_val": None,
        "bad_epochs": 0,
        "history": [],
        **_fresh_epoch(),
    }
    if resumed_from is not None and st is not None:
        _check_same_lora(st, job, resumed_from)
        _load_trainable(net, st["trainable"], resumed_from)
        disc.load_state_dict(st["discriminator"])
        opt_g.load_state_dict(st["opt_g"])
        opt_d.load_state_dict(st["opt_d"])
        sched_g.load_state_dict(st["sched_g"])
        sched_d.load_state_dict(st["sched_d"])
        scaler.load_state_dict(st["scaler"])
        restore_rng(st["rng"], slice_gen)
        progress_state = {**_fresh_epoch(), **st["progress"]}

    global_batch = opts.batch_size * world.size
    per_epoch = len(epoch_batches(lengths, global_batch, opts.seed, 1, segment))
    total_steps = opts.epochs * per_epoch if opts.max_steps is None else min(opts.max_steps, opts.epochs * per_epoch)
    warnings: list[str] = []
    log = JsonlLog(job.logs_dir / JSONL_NAME, progress_state["step"]) if world.main else None
    board = Board(job.logs_dir) if world.main else None
    if world.main:
        how = f"resuming from {resumed_from.name}" if resumed_from else "starting"
        d_note = "fresh discriminator (no base D given)" if fresh_d and resumed_from is None else ""
        err.print(
            f"{how}: {len(train_clips)} clips ({len(val_clips)} held out), {per_epoch} steps/epoch, "
            f"{mode}, {precision.name} on {device}" + (f"; {d_note}" if d_note else "")
        )
        audio_s = sum(clip_frames(c, hop) for c in train_clips + val_clips) * hop / job.sr
        plan = TrainPlan(
            total_steps,
            min(progress_state["step"], total_steps),
            per_epoch,
            opts.epochs,
            len(train_clips),
            len(val_clips),
            audio_s,
            audio_warnings(audio_s),
        )
        warnings = plan.warnings
        if on_plan is not None:
            on_plan(plan)
    timer = StepTimer(max(total_steps - progress_state["step"], 0))
    guard = StepGuard()

    saved_step = progress_state["step"]  # the step of the newest checkpoint on disk (0: none)

    def snapshot() -> dict[str, Any]:
        return {
            "mode": mode,
            "base_fingerprint": fingerprint,
            "lora": job.lora.to_dict(),
            "trainable": {n: p.detach().cpu().clone() for n, p in net.named_parameters() if p.requires_grad},
            "discriminator": disc.state_dict(),
            "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(),
            "sched_g": sched_g.state_dict(),
            "sched_d": sched_d.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": capture_rng(slice_gen),
            "progress": dict(progress_state),
        }

    def save_checkpoint() -> Path:
        done = progress_state["epoch"] - (1 if progress_state["batch"] == 0 else 0)
        path = state_path(job.checkpoints_dir, done, progress_state["step"])
        save_state(path, snapshot(), opts.keep)
        nonlocal saved_step
        saved_step = progress_state["step"]
        return path

    last_good = resumed_from
    stopped = "finished"
    trainer.train()
    disc.train()
    from rvclora.console import progress as make_progress

    bar = make_progress() if world.main else None
    task = (
        bar.add_task("train", total=total_steps, completed=min(progress_state["step"], total_steps), status="")
        if bar
        else None
    )
    if bar:
        bar.start()
    lean = contextlib.ExitStack()
    if not opts.full:
        lean.enter_context(lean_frozen_convs(net))
    lean.enter_context(guard.installed())
    try:
        if progress_state["step"] >= total_steps or progress_state["epoch"] > opts.epochs:
            stopped = "already_finished"
        while stopped == "finished" and progress_state["epoch"] <= opts.epochs:
            epoch = progress_state["epoch"]
            batches = epoch_batches(lengths, global_batch, opts.seed, epoch, segment)
            n_steps = 0
            first = progress_state["batch"]
            if first == 0:
                progress_state.update(_fresh_epoch())
            sums: dict[str, float] = progress_state["epoch_sums"]  # the epoch's totals survive a resume
            mine = slice(world.rank * opts.batch_size, (world.rank + 1) * opts.batch_size)
            last = min(len(batches), first + max(total_steps - progress_state["step"], 0))
            t0 = time.perf_counter()
            shares = [batches[b][mine] for b in range(first, last)]
            with contextlib.closing(loader.batches(shares)) as stream:
                for b, batch in enumerate(stream, start=first):
                    starts_all = random_starts(torch.tensor([lengths[i] for i in batches[b]]), segment, slice_gen)
                    guard.start()
                    values = train_step(modules, batch, starts_all[mine], fe, opts.c_mel, opts.c_kl, precision, optim)
                    losses = read_scalars(values)
                    norms = {k: losses.pop(k) for k in ("grad_norm_g", "grad_norm_d")}
                    bad = not all(math.isfinite(v) for v in losses.values()) or losses["loss_g"] > EXPLODED
                    if world.any(bad):
                        where = (
                            f"the last good checkpoint {last_good} is kept"
                            if last_good
                            else "no checkpoint was written"
                        )
                        raise ConfigError(
                            f"training diverged at epoch {epoch}, step {progress_state['step'] + 1} "
                            f"(loss_g={losses['loss_g']:.4g}, loss_d={losses['loss_d']:.4g}); {where}",
                            "lower --lr (e.g. halve it) and run again; it resumes from the last checkpoint",
                        )
                    progress_state["step"] += 1
                    progress_state["batch"] = b + 1
                    progress_state["epoch_steps"] += 1
                    n_steps += 1
                    for k, v in losses.items():
                        sums[k] = sums.get(k, 0.0) + v
                    dt, t0 = time.perf_counter() - t0, time.perf_counter()
                    progress_state["epoch_seconds"] += dt
                    stop = guard.finish()  # the step is complete: a Ctrl-C from here on saves it
                    if world.main:
                        assert log is not None and board is not None and bar is not None and task is not None
                        rec = {
                            "step": progress_state["step"],
                            "epoch": epoch,
                            **losses,
                            **norms,
                            "lr": opt_g.param_groups[0]["lr"],
                            "items_per_s": global_batch / dt,
                        }
                        log.write(rec)
                        if progress_state["step"] % opts.log_every == 0:
                            board.scalars(
                                {f"train/{k}": v for k, v in rec.items() if k not in ("step", "epoch")},
                                progress_state["step"],
                            )
                        bar.update(
                            task,
                            advance=1,
                            status=f"e{epoch} mel {losses['loss_mel']:.2f} kl {losses['loss_kl']:.2f}"
                            f" d {losses['loss_d']:.2f} | {global_batch / dt:.1f} items/s",
                        )
                        estimate = timer.step_finished()
                        if estimate is not None and on_estimate is not None:
                            on_estimate(estimate)
                    if world.any(stop):
                        raise KeyboardInterrupt
            if first + n_steps < len(batches):
                stopped = "max_steps"
            if stopped == "max_steps" and n_steps == 0:
                break
            epoch_done = progress_state["batch"] >= len(batches)
            done_steps = progress_state["epoch_steps"]
            record: dict[str, Any] = {
                "event": "epoch",
                "epoch": epoch,
                "step": progress_state["step"],
                "steps": done_steps,
                "seconds": round(progress_state["epoch_seconds"], 3),
                "lr": opt_g.param_groups[0]["lr"],
                **{k: v / max(done_steps, 1) for k, v in sums.items()},
            }
            stop_early = False
            if world.main:
                assert log is not None and board is not None
                val = _validate(net, val_items, fe, opts.seed, device) if val_items else None
                if val is not None:
                    record["val_mel"] = val
                    best = progress_state["best_val"]
                    if best is None or val < best:
                        progress_state["best_val"], progress_state["bad_epochs"] = val, 0
                    else:
                        progress_state["bad_epochs"] += 1
                    patience = opts.early_stopping_patience
                    stop_early = bool(patience) and progress_state["bad_epochs"] >= patience
                _log_held_out(board, net, held_out, fe, opts.seed, device, progress_state["step"], job.sr)
                board.scalars({f"epoch/{k}": v for k, v in record.items() if isinstance(v, float)}, epoch)
                progress_state["history"] = progress_state["history"] + [record]
                log.write(record)
            if epoch_done:  # only now: a Ctrl-C during validation leaves the epoch to finish on resume
                sched_g.step()
                sched_d.step()
                progress_state.update(epoch=epoch + 1, batch=0, **_fresh_epoch())
            if world.any(stop_early):
                stopped = "early_stopping"
            elif progress_state["step"] >= total_steps and progress_state["epoch"] <= opts.epochs:
                stopped = "max_steps"  # the budget ends on this epoch's boundary: stop (and save the checkpoint) here
            finishing = stopped != "finished" or progress_state["epoch"] > opts.epochs
            if world.main and (finishing or (epoch_done and epoch % opts.save_every == 0)):
                last_good = save_checkpoint()
                if not finishing:
                    _save_output(net, job, mode, epoch, progress_state["step"], fingerprint, per_epoch)
            world.barrier()
        output = None
        if world.main and stopped != "already_finished":
            output = _save_output(net, job, mode, None, progress_state["step"], fingerprint, per_epoch)
        elif world.main:
            output = _final_path(job, mode) if _final_path(job, mode).exists() else None
    except KeyboardInterrupt as exc:
        finished = not guard.in_step  # else the weights may be between the D and the G update
        saved = world.main and finished and progress_state["step"] > 0
        if saved:
            if progress_state["step"] > saved_step:
                save_checkpoint()
            _save_output(net, job, mode, None, progress_state["step"], fingerprint, per_epoch)
        raise TrainingInterrupted(progress_state["step"], saved, saved_step) from exc
    finally:
        lean.close()
        if bar:
            bar.stop()
        if log:
            log.close()
        if board:
            board.close()
    world.barrier()
    return TrainResult(
        output,
        progress_state["epoch"] - 1,
        progress_state["step"],
        stopped,
        resumed_from,
        fresh_d,
        list(progress_state["history"]),
        net,
        warnings,
    )


def _fresh_epoch() -> dict[str, Any]:
    """Running totals of the current epoch, kept in the checkpoint so a resumed epoch reports all its steps."""
    return {"epoch_sums": {}, "epoch_steps": 0, "epoch_seconds": 0.0}


def _load_generator(job: TrainJob, device: torch.device) -> tuple[Synthesizer, str]:
    """Base G with the adapter attached (or all trainable with --full) and the base fingerprint."""
    from rvclora.lora.fingerprint import base_fingerprint
    from rvclora.lora.inject import add_lora
    from rvclora.models.checkpoint import load_synthesizer

    net = load_synthesizer(job.base, device="cpu")
    cfg = net.config
    if (cfg.version, cfg.sr, bool(cfg.f0)) != (job.version, job.sr, job.f0):
        raise IncompatibleError(
            f"base {job.base.name} is {cfg.version}/{cfg.sr} Hz/{'f0' if cfg.f0 else 'no f0'}, the workspace is "
            f"{job.version}/{job.sr} Hz/{'f0' if job.f0 else 'no f0'}",
            "use the matching pretrained base (e.g. pretrained_v2/f0G40k.pth) or change sr/version/f0",
        )
    if not getattr(net, "has_posterior_encoder", hasattr(net, "enc_q")) or not _loaded_enc_q(job.base):
        raise IncompatibleError(
            f"base {job.base.name} has no posterior encoder (enc_q): it is an inference model",
            "train from a pretrained base in training layout, e.g. pretrained_v2/f0G40k.pth",
        )
    fingerprint = base_fingerprint(net)
    if job.options.full:
        for p in net.parameters():
            p.requires_grad_(True)
    else:
        add_lora(net, job.lora)
        for p in net.enc_q.parameters():  # frozen: see docs/training.md
            p.requires_grad_(False)
    return net.to(device), fingerprint


def _loaded_enc_q(path: Path) -> bool:
    """Whether the base file itself holds enc_q weights (an inference file would get a random one)."""
    from rvclora.fileio import safe_torch_load

    data = safe_torch_load(path, "base model")
    sd = data.get("model", data.get("weight", {})) if isinstance(data, dict) else {}
    return isinstance(sd, dict) and any(k.startswith("enc_q.") for k in sd)


def _load_discriminator(job: TrainJob, device: torch.device) -> tuple[MultiPeriodDiscriminator, bool]:
    """Base D when given (version checked, width read from the file), else a fresh one shaped by
    ``job.discriminator`` (``width_divisor``/``periods`` of MultiPeriodDiscriminator; default: upstream's)."""
    from rvclora.models.checkpoint import load_discriminator
    from rvclora.models.discriminator import MultiPeriodDiscriminator

    if job.base_d is not None:
        if job.discriminator:
            raise ConfigError(
                "a discriminator shape cannot be given together with a base D file",
                "the base D file decides the shape; drop one of the two",
            )
        return load_discriminator(job.base_d, job.version).to(device), False
    return MultiPeriodDiscriminator(job.version, **(job.discriminator or {})).to(device), True


def _split(job: TrainJob, segment: int, hop: int, world: World, err: Any) -> tuple[list, list]:
    """Hold out validation clips and drop clips shorter than one training window (loudly)."""
    if not job.clips:
        raise BadInputError(
            "no training clips found (clips, features and f0 must all exist)",
            "run rvclora preprocess and rvclora extract first, or give --input",
        )
    usable = [c for c in job.clips if clip_frames(c, hop) >= segment]
    short = len(job.clips) - len(usable)
    if not usable:
        raise BadInputError(
            f"all {len(job.clips)} clips are shorter than one training window ({segment * 10} ms)",
            "add longer recordings (a few minutes of speech or singing is a good start)",
        )
    if short and world.main:
        err.print(f"[yellow]skipping {short} clip(s) shorter than one training window ({segment * 10} ms)[/yellow]")
    by_name = {c.name: c for c in usable}
    train_names, val_names = split_validation(list(by_name), job.options.val_fraction, job.options.seed)
    return [by_name[n] for n in train_names], [by_name[n] for n in val_names]


def _check_speakers(clips: list, net: Synthesizer) -> None:
    n = net.emb_g.num_embeddings if hasattr(net.emb_g, "num_embeddings") else net.emb_g.weight.shape[0]
    bad = sorted({c.speaker for c in clips if not 0 <= c.speaker < n})
    if bad:
        raise IncompatibleError(
            f"speaker id(s) {bad} out of range: the base has {n} speakers", f"use speaker ids 0..{n - 1}"
        )


def _param_groups(net: nn.Module, opts: Any) -> list[dict[str, Any]]:
    """Trainable parameters; with LoRA+ the B factors get ``lr × lora_plus_ratio``."""
    named = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    if not named:
        raise ConfigError("nothing to train: the LoRA targets select no parameter", "check lora.targets")
    b = [p for n, p in named if n.endswith("lora_B")]
    rest = [p for n, p in named if not n.endswith("lora_B")]
    if opts.lora_plus_ratio == 1.0 or not b:
        return [{"params": [p for _, p in named]}]
    return [{"params": rest}, {"params": b, "lr": opts.lr * opts.lora_plus_ratio}]


def _check_same_lora(state: dict[str, Any], job: TrainJob, path: Path) -> None:
    if state["mode"] == "lora" and state.get("lora") != job.lora.to_dict():
        raise IncompatibleError(
            f"training checkpoint {path.name} was made with other LoRA settings "
            f"(rank {state['lora'].get('rank')}, targets {state['lora'].get('targets')})",
            "use the same lora settings, or start over with --restart",
        )


def _load_trainable(net: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    params = {n: p for n, p in net.named_parameters() if p.requires_grad}
    if set(params) != set(tensors):
        raise IncompatibleError(
            f"training checkpoint {path.name} does not fit this model's trainable tensors", "start over with --restart"
        )
    with torch.no_grad():
        for n, p in params.items():
            if p.shape != tensors[n].shape:
                raise IncompatibleError(
                    f"training checkpoint {path.name}: {n} has shape {tuple(tensors[n].shape)}",
                    "start over with --restart",
                )
            p.copy_(tensors[n])


def _infer(net: Synthesizer, item: Item, seed: int, device: torch.device) -> torch.Tensor:
    """Convert one clip with the current weights, with a fixed prior sample and untouched global RNG."""
    devices = [device] if device.type == "cuda" else []
    was_training = net.training
    net.eval()
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(seed)
            phone = item.phone[None].to(device)
            lengths = torch.tensor([item.frames], device=device)
            sid = torch.tensor([item.speaker], device=device)
            if item.pitch is not None and item.pitchf is not None:
                audio = net.run_infer(
                    phone, lengths, sid, pitch=item.pitch[None].to(device), nsff0=item.pitchf[None].to(device)
                )[0]
            else:
                audio = net.run_infer(phone, lengths, sid)[0]
    finally:
        net.train(was_training)
    return audio[0, 0].float()


def _validate(net: Synthesizer, items: list[Item], fe: FrontEnd, seed: int, device: torch.device) -> float:
    """Mean mel L1 (× 1, not × c_mel) between converted and real held-out clips."""
    total = 0.0
    for it in items:
        mel_hat = fe.mel(_infer(net, it, seed, device).cpu())
        mel = fe.spec_to_mel(it.spec)
        n = min(mel.shape[-1], mel_hat.shape[-1])
        total += float(torch.nn.functional.l1_loss(mel_hat[..., :n], mel[..., :n]))
    return total / len(items)


def _log_held_out(
    board: Board, net: Synthesizer, item: Item, fe: FrontEnd, seed: int, device: torch.device, step: int, sr: int
) -> None:
    audio = _infer(net, item, seed, device).cpu()
    board.mel("held_out/mel_generated", fe.mel(audio).numpy(), step)
    board.mel("held_out/mel_real", fe.spec_to_mel(item.spec).numpy(), step)
    board.audio("held_out/generated", audio.numpy(), sr, step)


def _final_path(job: TrainJob, mode: str) -> Path:
    return job.adapters_dir / (f"{job.name}.pth" if mode == "full" else f"{job.name}.safetensors")


def _save_output(
    net: nn.Module, job: TrainJob, mode: str, epoch: int | None, step: int, fingerprint: str, per_epoch: int
) -> Path:
    """The adapter (or RVC model with --full): per-epoch copies keep ``keep`` newest; the final one is
    named after the workspace."""
    suffix = ".pth" if mode == "full" else ".safetensors"
    if epoch is None:
        path = _final_path(job, mode)
    else:
        path = job.adapters_dir / f"{job.name}_e{epoch}_s{step}{suffix}"
    done_epochs = step // max(per_epoch, 1)
    if mode == "full":
        from rvclora.models.checkpoint import save_rvc_model

        save_rvc_model(net, path, precision="fp16", info=f"{done_epochs}epoch")
    else:
        from rvclora.lora.adapter import save_lora

        save_lora(
            net,
            path,
            unvoiced_f0=job.unvoiced_f0,
            **job.info,
            training={"epochs": done_epochs, "steps": step, "base_fingerprint": fingerprint},
        )
    if epoch is not None:
        _prune(job.adapters_dir, job.name, suffix, job.options.keep)
    return path


def _prune(folder: Path, name: str, suffix: str, keep: int) -> None:
    import re

    pat = re.compile(rf"^{re.escape(name)}_e(\d+)_s(\d+){re.escape(suffix)}$")
    found = sorted((int(m.group(2)), p) for p in folder.glob(f"{name}_e*{suffix}") if (m := pat.match(p.name)))
    for _, p in found[:-keep]:
        p.unlink(missing_ok=True)
