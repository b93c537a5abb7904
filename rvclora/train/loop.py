"""The training run: RVC's GAN recipe (§6) on a LoRA-wrapped (or fully trainable) generator.

One step = discriminator update on detached audio, then generator update with
mel L1 × c_mel + KL × c_kl + LSGAN + 2 × feature matching, exactly as upstream; what differs is which
generator tensors are trainable, and that everything needed to resume step for step is checkpointed.

:func:`run_training` reads as the run's outline; :class:`TrainingRun` holds the run's parts and its named
steps (resume, epoch, end of epoch, checkpoint); :class:`~rvclora.train.state.RunState` is where the run
stands. Progress goes out through :class:`~rvclora.train.progress.TrainProgress`: this module prints nothing.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import nn

from rvclora.errors import BadInputError, ConfigError, IncompatibleError
from rvclora.train.data import Batch, Item, clip_frames, epoch_batches, split_validation
from rvclora.train.distributed import World, setup_world
from rvclora.train.forward import TrainingGenerator
from rvclora.train.frontend import FrontEnd
from rvclora.train.frozen import lean_frozen_convs
from rvclora.train.interrupt import StepGuard, TrainingInterrupted
from rvclora.train.loader import BatchLoader, ItemStore
from rvclora.train.logs import Board, JsonlLog
from rvclora.train.options import TrainJob
from rvclora.train.plan import StepTimer, TrainPlan, audio_warnings
from rvclora.train.precision import choose_precision
from rvclora.train.progress import StepReport, TrainProgress
from rvclora.train.slicing import random_starts
from rvclora.train.state import (
    RunState,
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


class EpochPass(NamedTuple):
    """What one call of :meth:`TrainingRun.run_epoch` trained: ``trained`` batches from batch ``first``, of the
    epoch's ``batches``."""

    first: int
    trained: int
    batches: int

    @property
    def cut_short(self) -> bool:
        """The step budget ended before the epoch did."""
        return self.first + self.trained < self.batches


def run_training(job: TrainJob, progress: TrainProgress | None = None) -> TrainResult:
    """Train (or resume) one adapter; see docs/training.md. Under torchrun every rank calls this.

    ``progress`` is told the run ahead before its first step, every step, and the time estimate once the first
    steps are timed (main rank only). Ctrl-C stops on a step boundary, saves that step's checkpoint and adapter,
    and raises :class:`TrainingInterrupted`.
    """
    run = TrainingRun(job, progress)
    run.resume()
    run.open_logs()
    try:
        run.announce()
        with run.guarded():
            try:
                stopped = run.train_epochs()
                output = run.finish(stopped)
            except KeyboardInterrupt as exc:
                raise run.interrupted() from exc
    finally:
        run.close()
    run.world.barrier()
    return run.result(stopped, output)


class TrainingRun:
    """One run's parts (world, models, data, optimisers, logs) and its named steps.

    Building it seeds the RNGs and loads everything; :meth:`resume` continues from a checkpoint; each epoch is
    :meth:`run_epoch` (its steps: :meth:`train_one`) then :meth:`end_epoch` (validation, early stopping, the LR
    schedule, :meth:`checkpoint`). Only the main rank writes files and reports progress.
    """

    def __init__(self, job: TrainJob, progress: TrainProgress | None = None) -> None:
        self.job = job
        opts = self.opts = job.options
        world = self.world = setup_world(opts.device)
        self.progress = progress if progress is not None and world.main else TrainProgress()
        device = self.device = world.device
        self.precision = choose_precision(opts.precision, device)
        _seed_all(opts.seed)

        self.net, self.fingerprint = _load_generator(job, device)
        self.fe = FrontEnd(job.sr, job.version)
        self.segment = self.fe.segment
        self.disc, self.fresh_d = _load_discriminator(job, device)
        self.mode = "full" if opts.full else "lora"

        self.train_clips, self.val_clips = _split(job, self.segment, self.fe.hop, self.progress)
        self.lengths = [clip_frames(c, self.fe.hop) for c in self.train_clips]
        items = ItemStore(
            self.train_clips, job.sr, self.fe, self.net.config.content_dim, job.f0, device if opts.cache else None
        )
        self.loader = BatchLoader(items, device)
        self.val_items = [items.load(c) for c in self.val_clips]
        self.held_out = self.val_items[0] if self.val_items else items.load(self.train_clips[0])
        _check_speakers(self.train_clips + self.val_clips, self.net)

        self.trainer = TrainingGenerator(self.net, self.segment, self.fe.hop).to(device)
        self.modules = _step_modules(self.trainer, self.net, self.disc, world)
        opt_g = make_optimiser(_param_groups(self.net, opts), opts)
        opt_d = make_optimiser(self.disc.parameters(), opts)
        self.sched_g = torch.optim.lr_scheduler.ExponentialLR(opt_g, gamma=opts.lr_decay)
        self.sched_d = torch.optim.lr_scheduler.ExponentialLR(opt_d, gamma=opts.lr_decay)
        self.optim = Optimisers(opt_g, opt_d, self.precision.scaler())
        self.slice_gen = torch.Generator().manual_seed(opts.seed)

        self.global_batch = opts.batch_size * world.size
        self.share = slice(world.rank * opts.batch_size, (world.rank + 1) * opts.batch_size)  # this rank's items
        self.per_epoch = len(epoch_batches(self.lengths, self.global_batch, opts.seed, 1, self.segment))
        whole = opts.epochs * self.per_epoch
        self.total_steps = whole if opts.max_steps is None else min(opts.max_steps, whole)

        self.state = RunState()
        self.resumed_from: Path | None = None
        self.last_good: Path | None = None  # the newest checkpoint, named when training diverges
        self.saved_step = 0  # the step of the newest checkpoint on disk (0: none)
        self.warnings: list[str] = []
        self.guard = StepGuard(on_hold=self.progress.stopping)
        self.timer: StepTimer | None = None
        self.log: JsonlLog | None = None
        self.board: Board | None = None

    # --- resume -------------------------------------------------------------------------------------------
    def resume(self) -> None:
        """Start over (``restart``: the old checkpoints are deleted) or continue from the newest intact one:
        weights, optimisers, schedules, RNGs and the :class:`RunState`, so the run goes on step for step."""
        job, world = self.job, self.world
        if job.restart and world.main:
            for old in list_states(job.checkpoints_dir):
                old.unlink(missing_ok=True)
        world.barrier()
        if job.restart:
            return
        path, saved = newest_intact_state(job.checkpoints_dir, self.fingerprint, self.mode, set_aside=world.main)
        if path is None or saved is None:
            return
        _check_same_lora(saved, job, path)
        _load_trainable(self.net, saved["trainable"], path)
        self.disc.load_state_dict(saved["discriminator"])
        self.optim.opt_g.load_state_dict(saved["opt_g"])
        self.optim.opt_d.load_state_dict(saved["opt_d"])
        self.sched_g.load_state_dict(saved["sched_g"])
        self.sched_d.load_state_dict(saved["sched_d"])
        self.optim.scaler.load_state_dict(saved["scaler"])
        restore_rng(saved["rng"], self.slice_gen)
        self.state = RunState.from_dict(saved["progress"])
        self.resumed_from = self.last_good = path
        self.saved_step = self.state.step

    def open_logs(self) -> None:
        """The JSONL log (cut back to the resumed step) and TensorBoard, on the main rank."""
        if self.world.main:
            self.log = JsonlLog(self.job.logs_dir / JSONL_NAME, self.state.step)
            self.board = Board(self.job.logs_dir)

    def announce(self) -> None:
        """Tell the run ahead (main rank); its warnings are kept for the result."""
        if not self.world.main:
            return
        hop, clips = self.fe.hop, self.train_clips + self.val_clips
        audio_s = sum(clip_frames(c, hop) for c in clips) * hop / self.job.sr
        plan = TrainPlan(
            steps_total=self.total_steps,
            steps_done=min(self.state.step, self.total_steps),
            steps_per_epoch=self.per_epoch,
            epochs=self.opts.epochs,
            clips=len(self.train_clips),
            held_out=len(self.val_clips),
            audio_s=audio_s,
            resumed_from=self.resumed_from,
            mode=self.mode,
            precision=self.precision.name,
            device=str(self.device),
            fresh_discriminator=self.fresh_d,
            warnings=audio_warnings(audio_s),
        )
        self.warnings = plan.warnings
        self.timer = StepTimer(max(self.total_steps - self.state.step, 0))
        self.progress.plan(plan)

    @contextlib.contextmanager
    def guarded(self) -> Iterator[None]:
        """Training mode, the lean frozen convolutions (LoRA) and the Ctrl-C guard, for the epochs."""
        self.trainer.train()
        self.disc.train()
        with contextlib.ExitStack() as stack:
            if not self.opts.full:
                stack.enter_context(lean_frozen_convs(self.net))
            stack.enter_context(self.guard.installed())
            yield

    # --- epochs -------------------------------------------------------------------------------------------
    def train_epochs(self) -> str:
        """Every epoch left, until the last one, the step budget or early stopping; returns why it stopped."""
        st = self.state
        if st.step >= self.total_steps or st.epoch > self.opts.epochs:
            return "already_finished"
        stopped = "finished"
        while stopped == "finished" and st.epoch <= self.opts.epochs:
            done = self.run_epoch()
            if done.cut_short:
                if done.trained == 0:
                    break
                stopped = "max_steps"
            stopped = self.end_epoch(done.batches, stopped)
            self.world.barrier()
        return stopped

    def run_epoch(self) -> EpochPass:
        """Train the current epoch from its next batch, within the step budget."""
        st, opts = self.state, self.opts
        batches = epoch_batches(self.lengths, self.global_batch, opts.seed, st.epoch, self.segment)
        first = st.batch
        st.begin_epoch()
        last = min(len(batches), first + max(self.total_steps - st.step, 0))
        shares = [batches[b][self.share] for b in range(first, last)]
        trained = 0
        t0 = time.perf_counter()
        with contextlib.closing(self.loader.batches(shares)) as stream:
            for b, batch in enumerate(stream, start=first):
                t0 = self.train_one(b, batches[b], batch, t0)
                trained += 1
        return EpochPass(first, trained, len(batches))

    def train_one(self, index: int, ids: list[int], batch: Batch, t0: float) -> float:
        """One step on batch ``index`` of the epoch (``ids``: the global batch's clips, ``batch``: this rank's
        share, loaded); logs and reports it. Returns when it ended, the next step's start."""
        opts, world = self.opts, self.world
        starts_all = random_starts(torch.tensor([self.lengths[i] for i in ids]), self.segment, self.slice_gen)
        self.guard.start()
        values = train_step(
            self.modules, batch, starts_all[self.share], self.fe, opts.c_mel, opts.c_kl, self.precision, self.optim
        )
        losses = read_scalars(values)
        norms = {k: losses.pop(k) for k in ("grad_norm_g", "grad_norm_d")}
        bad = not all(math.isfinite(v) for v in losses.values()) or losses["loss_g"] > EXPLODED
        if world.any(bad):
            raise self._diverged(losses)
        dt, t1 = time.perf_counter() - t0, time.perf_counter()
        self.state.count_step(index, losses, dt)
        stop = self.guard.finish()  # the step is complete: a Ctrl-C from here on saves it
        if world.main:
            self._report_step(losses, norms, dt)
        if world.any(stop):
            raise KeyboardInterrupt
        return t1

    def _report_step(self, losses: dict[str, float], norms: dict[str, float], seconds: float) -> None:
        st = self.state
        lr = self.optim.opt_g.param_groups[0]["lr"]
        rec = {
            "step": st.step,
            "epoch": st.epoch,
            **losses,
            **norms,
            "lr": lr,
            "items_per_s": self.global_batch / seconds,
        }
        assert self.log is not None and self.board is not None and self.timer is not None
        self.log.write(rec)
        if st.step % self.opts.log_every == 0:
            self.board.scalars({f"train/{k}": v for k, v in rec.items() if k not in ("step", "epoch")}, st.step)
        self.progress.step(StepReport(st.step, st.epoch, losses, self.global_batch / seconds))
        estimate = self.timer.step_finished()
        if estimate is not None:
            self.progress.estimate(estimate)

    def _diverged(self, losses: dict[str, float]) -> ConfigError:
        where = f"the last good checkpoint {self.last_good} is kept" if self.last_good else "no checkpoint was written"
        return ConfigError(
            f"training diverged at epoch {self.state.epoch}, step {self.state.step + 1} "
            f"(loss_g={losses['loss_g']:.4g}, loss_d={losses['loss_d']:.4g}); {where}",
            "lower --lr (e.g. halve it) and run again; it resumes from the last checkpoint",
        )

    # --- end of epoch -------------------------------------------------------------------------------------
    def end_epoch(self, batches: int, stopped: str) -> str:
        """Log the epoch (of ``batches`` batches; validated on the main rank), and once it is complete step the LR
        schedules and move to the next; decide whether to stop, and checkpoint when stopping or every
        ``save_every`` epochs. Returns ``stopped``, updated."""
        st, opts, world = self.state, self.opts, self.world
        epoch = st.epoch
        epoch_done = st.batch >= batches
        stop_early = self._validate_and_log() if world.main else False
        if epoch_done:  # only now: a Ctrl-C during validation leaves the epoch to finish on resume
            self.sched_g.step()
            self.sched_d.step()
            st.next_epoch()
        if world.any(stop_early):
            stopped = "early_stopping"
        elif st.step >= self.total_steps and st.epoch <= opts.epochs:
            stopped = "max_steps"  # the budget ends on this epoch's boundary: stop (and save the checkpoint) here
        finishing = stopped != "finished" or st.epoch > opts.epochs
        if world.main and (finishing or (epoch_done and epoch % opts.save_every == 0)):
            self.checkpoint()
            if not finishing:
                self.save_output(epoch)
        return stopped

    def _validate_and_log(self) -> bool:
        """The epoch's record (with the held-out mel loss), written to the logs; whether to stop early."""
        st = self.state
        assert self.log is not None and self.board is not None
        record = st.epoch_record(self.optim.opt_g.param_groups[0]["lr"])
        stop_early = False
        if self.val_items:
            val = _validate(self.net, self.val_items, self.fe, self.opts.seed, self.device)
            record["val_mel"] = val
            stop_early = st.judge(val, self.opts.early_stopping_patience)
        _log_held_out(self.board, self.net, self.held_out, self.fe, self.opts.seed, self.device, st.step, self.job.sr)
        self.board.scalars({f"epoch/{k}": v for k, v in record.items() if isinstance(v, float)}, st.epoch)
        st.history.append(record)
        self.log.write(record)
        return stop_early

    # --- checkpoint and outputs ---------------------------------------------------------------------------
    def checkpoint(self) -> Path:
        """Save everything needed to resume at this step (keeping the ``keep`` newest checkpoints)."""
        path = state_path(self.job.checkpoints_dir, self.state.latest_epoch, self.state.step)
        save_state(path, self.snapshot(), self.opts.keep)
        self.saved_step, self.last_good = self.state.step, path
        return path

    def snapshot(self) -> dict[str, Any]:
        """The checkpoint's contents: trainable tensors only (never the frozen base), D, optimisers, schedules,
        scaler, RNGs and the :class:`RunState`."""
        return {
            "mode": self.mode,
            "base_fingerprint": self.fingerprint,
            "lora": self.job.lora.to_dict(),
            "trainable": {n: p.detach().cpu().clone() for n, p in self.net.named_parameters() if p.requires_grad},
            "discriminator": self.disc.state_dict(),
            "opt_g": self.optim.opt_g.state_dict(),
            "opt_d": self.optim.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "scaler": self.optim.scaler.state_dict(),
            "rng": capture_rng(self.slice_gen),
            "progress": self.state.to_dict(),
        }

    def save_output(self, epoch: int | None) -> Path:
        """The adapter (or RVC model) of this step: an epoch copy, or the final file when ``epoch`` is None."""
        return _save_output(self.net, self.job, self.mode, epoch, self.state.step, self.fingerprint, self.per_epoch)

    def finish(self, stopped: str) -> Path | None:
        """The final output: written now, or (already finished) the one on disk if it is still there."""
        if not self.world.main:
            return None
        if stopped != "already_finished":
            return self.save_output(None)
        final = _final_path(self.job, self.mode)
        return final if final.exists() else None

    def interrupted(self) -> TrainingInterrupted:
        """Ctrl-C: save the last whole step (checkpoint and final output) unless it was cut mid-step."""
        finished = not self.guard.in_step  # else the weights may be between the D and the G update
        saved = self.world.main and finished and self.state.step > 0
        if saved:
            if self.state.step > self.saved_step:
                self.checkpoint()
            self.save_output(None)
        return TrainingInterrupted(self.state.step, saved, self.saved_step)

    def close(self) -> None:
        self.progress.ended()
        if self.log:
            self.log.close()
        if self.board:
            self.board.close()

    def result(self, stopped: str, output: Path | None) -> TrainResult:
        st = self.state
        return TrainResult(
            output,
            st.epoch - 1,
            st.step,
            stopped,
            self.resumed_from,
            self.fresh_d,
            list(st.history),
            self.net,
            self.warnings,
        )


def _seed_all(seed: int) -> None:
    import random

    import numpy as np

    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def _step_modules(trainer: nn.Module, net: nn.Module, disc: MultiPeriodDiscriminator, world: World) -> StepModules:
    """G and D as the step drives them: wrapped in DDP when there are several ranks."""
    g_module: nn.Module = trainer
    d_module: nn.Module = Critic(disc)
    if world.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        device = world.device
        ids = [device.index] if device.type == "cuda" else None
        g_module = DDP(trainer, device_ids=ids)
        d_module = DDP(d_module, device_ids=ids)
    return StepModules(g_module, d_module, net, disc)


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


def _split(job: TrainJob, segment: int, hop: int, progress: TrainProgress) -> tuple[list, list]:
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
    if short:
        progress.skipped(short, segment * 10)
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
