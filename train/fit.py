"""The training loop behind `livecmd train`. Read it top to bottom: processes and device, data,
model, optimizer and schedule, resume, then the epochs (steps, validation, checkpoints).

The recipe is the paper's: SGD with Nesterov momentum 0.9, lr 0.01, batch 23, the lr divided
by 5 when the validation metric has not improved for 3 epochs. An epoch reads every segment of
every clip (MagnaTagATune, DCASE: as the authors) or one window per clip at a random offset
(speech), `--epoch-windows` (the domain table's default).

Under `torchrun --nproc_per_node N -m livecmd.cli train ...` the same loop runs once per process
with DistributedDataParallel (NCCL on GPUs, gloo on CPUs): each rank trains on its share of
every epoch, rank 0 validates, keeps the best weights and writes the checkpoints. A step then
averages N batches: `--lr-scale linear` (the default) multiplies the lr by N, so that each
sample moves the weights as far as in one process and the paper's epoch counts and patience
still fit (Goyal et al. 2017); `--sync-bn` makes BatchNorm's statistics span all N batches (CUDA).

Faults: Ctrl-C (or the SIGTERM torchrun and batch schedulers send) stops at the next batch with
a resumable `last.safetensors`; `--resume` continues from it with the same epoch, lr, data
order and dropout masks as an uninterrupted run. Checkpoints are written atomically, so a kill -9
leaves the previous one; a write that fails (a full disk, a read-only --out) stops the run with a
one-line error and leaves the previous checkpoint as it was. A loss that is not finite stops the
run before the weights are touched.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from livecmd import interrupts, weights
from livecmd.compute import pick_device
from livecmd.domains import get_domain
from livecmd.errors import LivecmdError
from livecmd.models import build_model
from train import checkpoint, precision
from train.augment import Augmentation
from train.datasets import TRAIN_SPLITS, load, negatives
from train.datasets.windows import Windows
from train.evaluate import clip_scores, metrics, scoring_loader

OPTIMIZERS = ("sgd", "adamw")
LR_FACTOR, LR_PATIENCE = 0.2, 3  # lr ÷5 after 3 epochs without a better validation metric


@dataclass(frozen=True)
class TrainConfig:
    domain: str
    data: Path
    arch: str = "samplecnn"
    epochs: int = 50
    batch_size: int = 23  # the paper's
    lr: float | None = None  # None: 0.01 for SGD (the paper's), 0.001 for AdamW
    optimizer: str = "sgd"
    out: Path | None = None  # None: runs/<domain>-<arch>-<time>/
    resume: bool = False
    device: str = "auto"
    amp: str = "auto"
    workers: int | None = None  # DataLoader workers; None: half the cores (decoding uses all)
    seed: int = 0
    cache: Path | None = None  # decoded-audio cache folder; None: ~/.cache/livecmd
    augment: bool = True  # speech: shift, background noise, gain
    shift_ms: float = 100.0  # speech augmentation: the largest random time shift either way
    whole_words: bool = False  # speech augmentation: only shifts that keep the word whole
    cut_words: float = 0.0  # speech augmentation: this share of words cut by the window's edge, as _unknown_
    speed: float = 0.0  # speech augmentation: every window played 1 ± up to this many times as fast
    room: float = 0.0  # speech augmentation: every window in a random room and through a random microphone band, each this often
    quiet_db: float = 12.0  # speech augmentation: every window played at a random gain from -quiet_db to +6 dB
    input_samples: int | None = None  # None: the domain's (the paper's); shorter for quick trials
    checkpoint_minutes: float = 10.0  # also save `last` mid-epoch this often
    init: Path | None = None  # start from these weights (fine-tuning) instead of a random draw
    keep_epochs: bool = False  # also write each epoch's weights, epoch-N.safetensors (to average them)
    negatives: tuple[Path, ...] = ()  # folders of long recordings without commands (train.datasets.negatives)
    negatives_share: float = 0.3  # negative windows an epoch, as a share of the training clips
    epoch_windows: str | None = None  # "all" segments or one "random" window per clip per epoch; None: the domain's
    train_splits: str | None = None  # "train" or "train+test" (speech: the paper's 57,929); None: "train"
    valid_from: str | None = None  # dcase: "holdout" (the paper's) or "evaluation" CSV; None: the domain's
    lr_scale: str = "linear"  # under torchrun: lr × processes ("linear") or as given ("none")
    sync_bn: bool = False  # under torchrun on GPUs: BatchNorm statistics over every process's batch


# What a resumed run keeps from the run it continues (the rest may change between sessions).
_RUN_SETTINGS = ("domain", "arch", "batch_size", "lr", "optimizer", "seed", "augment", "shift_ms", "whole_words", "cut_words", "speed", "room", "quiet_db",
                 "input_samples", "epoch_windows", "train_splits", "valid_from", "lr_scale", "negatives_share")
_OLDER_RUNS = {"epoch_windows": "random", "train_splits": "train", "speed": 0.0, "room": 0.0, "quiet_db": 12.0}  # what runs from before these settings did
LR_SCALES = ("linear", "none")


@dataclass(frozen=True)
class Outcome:
    out: Path
    epochs_done: int
    best: dict[str, Any]  # validation metrics of best.safetensors
    interrupted: bool


def train(config: TrainConfig, console: Console | None = None) -> Outcome:
    console = console or Console()

    # -- processes and device: one process per device under torchrun, else just this one ------
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    # Under torchrun even one process trains with DDP and its process group (NCCL on a GPU), so
    # that a one-GPU machine checks the path a multi-GPU one takes (benchmarks/gpu_check.py).
    distributed = world > 1 or "TORCHELASTIC_RUN_ID" in os.environ
    device = pick_device(config.device)
    if config.sync_bn and device.type != "cuda":
        raise LivecmdError("--sync-bn needs CUDA: SyncBatchNorm runs on NCCL only (drop it on the CPU)")
    if distributed:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        # Rank 0 decodes and validates while the others wait: allow hours, not the default 10 min.
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(hours=3))
    lead = rank == 0

    def say(message: str) -> None:  # one unwrapped line per message, from rank 0 only
        if lead:
            console.print(message, soft_wrap=True, highlight=False)

    try:
        # -- run folder; resuming takes the run's own settings ------------------------------------
        out = _run_folder(config, world, device)
        resumed = checkpoint.load(out / "last.safetensors") if config.resume else None
        if resumed is not None:
            config = _resumed_config(config, resumed.state["config"])
        elif (out / "last.safetensors").exists():
            raise LivecmdError(f"{out} already holds a run: pass --resume to continue it, or another --out")
        domain = get_domain(config.domain)
        config = replace(config, **{k: domain.setting(k, getattr(config, k)) for k in ("epoch_windows", "train_splits", "valid_from")})
        if config.lr_scale not in LR_SCALES:
            raise LivecmdError(f"unknown --lr-scale {config.lr_scale!r}: choose one of {', '.join(LR_SCALES)}")
        window = config.input_samples or domain.input_samples
        cpus = os.cpu_count() or 1
        workers = config.workers if config.workers is not None else max(1, cpus // 2)

        # -- data: index, decode once into the cache (one process per node; the others wait) ---
        local_lead = int(os.environ.get("LOCAL_RANK", "0")) == 0
        decode_workers = config.workers if config.workers is not None else cpus
        found = negatives.find(config.negatives) if config.negatives else None
        extra = [r.path for r in found.recordings] if found else []
        if local_lead:
            data = load(domain, config.data, config.cache, decode_workers, Console(stderr=True), config.valid_from, extra=extra)
        if distributed:
            dist.barrier()
        if not local_lead:
            data = load(domain, config.data, config.cache, 0, Console(stderr=True), config.valid_from, extra=extra)
        if resumed is not None and str(data.index.root) != resumed.state["config"]["data"]:
            raise LivecmdError(f"{out} was trained on {resumed.state['config']['data']}, not {data.index.root}: pass the same --data to resume")
        labels = data.index.labels
        train_clips, valid_clips = data.training_clips(config.train_splits), data.clips("valid")
        if not train_clips or not valid_clips:
            raise LivecmdError(f"{data.index.root} has {len(train_clips)} usable training and {len(valid_clips)} validation clips: both must be non-empty")
        say(data.summary())
        backgrounds: list[Path] = []
        if found is not None:
            usable = [r for r in found.recordings if r.path in data.cache]
            missing_labels = {r.label for r in usable} - set(labels)
            if missing_labels or domain.multi_label:
                raise LivecmdError(f"--negatives trains windows as {' and '.join(sorted({r.label for r in usable}))}: "
                                   f"{data.index.root} has no such label (negatives suit speech data with _unknown_ and _silence_)")
            windows = negatives.windows(usable, round(config.negatives_share * len(train_clips)))
            train_clips = train_clips + windows
            backgrounds = [r.path for r in usable]
            say(negatives.summary(usable, len(windows), len(found.recordings) - len(usable) + found.broken))
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LivecmdError(f"cannot create the run folder {out} ({e.strerror}): pass another --out") from None
        # Augmentation needs background recordings: only the speech datasets carry them.
        augmentation = augmentation_for(config) if config.augment and data.index.noise else None
        train_set = Windows(data.cache, train_clips, window, labels=labels, multi_label=domain.multi_label,
                            train=True, seed=config.seed, augmentation=augmentation, noise=data.index.noise,
                            segments=domain.segments, epoch_windows=config.epoch_windows, backgrounds=backgrounds)
        valid_set = Windows(data.cache, valid_clips, window, segments=domain.segments)
        sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=config.seed)
        batch = min(config.batch_size, len(sampler))  # a tiny dataset still makes one step
        steps = len(sampler) // batch

        # -- model: the same initial weights on every rank; DDP then averages the gradients ----
        torch.manual_seed(config.seed)
        core = build_model(domain, config.arch, n_labels=len(labels)).to(device)
        if config.init is not None and resumed is None:  # a resumed run has its own weights already
            core.load_state_dict(_initial_state(config, domain.name, labels))
        if config.sync_bn and distributed:  # the same parameters, in modules that all-reduce their batch statistics
            core = nn.SyncBatchNorm.convert_sync_batchnorm(core)
        loss_fn: nn.Module = nn.BCEWithLogitsLoss() if domain.multi_label else nn.CrossEntropyLoss()

        # -- optimizer, schedule, mixed precision -------------------------------------------------
        lr_factor = world if config.lr_scale == "linear" else 1
        if config.optimizer == "sgd":
            optimizer: torch.optim.Optimizer = torch.optim.SGD(core.parameters(), lr=(config.lr or 0.01) * lr_factor, momentum=0.9, nesterov=True)
        elif config.optimizer == "adamw":
            optimizer = torch.optim.AdamW(core.parameters(), lr=(config.lr or 1e-3) * lr_factor)
        else:
            raise LivecmdError(f"unknown --optimizer {config.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=LR_FACTOR, patience=LR_PATIENCE)
        dtype = precision.autocast_dtype(device, config.amp)
        scaler = precision.grad_scaler(device, dtype)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input length: let cuDNN pick its fastest kernels

        # -- resume: weights, optimizer, schedule, position in the epoch, best so far -------------
        start_epoch, start_step, loss_sum, seen = 0, 0, 0.0, 0
        best_score, best_metrics = -math.inf, {}
        if resumed is not None:
            s = resumed.state
            core.load_state_dict(resumed.model)
            optimizer.load_state_dict(resumed.optimizer)
            scheduler.load_state_dict(s["scheduler"])
            precision.restore_scaler(scaler, s["scaler"])
            if s.get("precision", precision.name(dtype)) != precision.name(dtype):
                say(f"precision changes on resume: {s['precision']} before, {precision.name(dtype)} now")
            start_epoch, start_step, loss_sum, seen = s["epoch"], s["step"], s["loss_sum"], s["seen"]
            best_score, best_metrics = s["best_score"], s["best_metrics"]
            if lead:
                _truncate_log(out / "metrics.jsonl", start_epoch)
            if start_epoch >= config.epochs:
                say(f"{out} has already trained {start_epoch} epochs: pass a larger --epochs to go on")
            else:
                say(f"resuming {out} at epoch {start_epoch + 1}, batch {start_step + 1} of {steps} (lr {_lr(optimizer):g})")
        model: nn.Module = core
        if distributed:
            model = DistributedDataParallel(core, device_ids=[device.index] if device.type == "cuda" else None)
        per_epoch = f"all {domain.segments} segments" if train_set.per_clip > 1 else "one random window"
        say(f"training {domain.name} {config.arch} ({len(labels)} labels, {window:,}-sample windows, {per_epoch} per clip per epoch, "
            f"on {'+'.join(TRAIN_SPLITS[config.train_splits])}) on {device}, {precision.name(dtype)}, batch {batch} x {world} process(es)"
            f"{(' with DDP' + (' and SyncBatchNorm' if config.sync_bn else '')) if distributed else ''}, {workers} loader workers, {config.optimizer} lr {_lr(optimizer):g}"
            f"{f' ({world} x {_lr(optimizer) / world:g}, --lr-scale linear)' if lr_factor > 1 and resumed is None else ''}; run folder {out}")

        def save_last(epoch: int, step: int) -> None:
            state = {
                "config": _config_json(config, data.index.root), "epoch": epoch, "step": step,
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "precision": precision.name(dtype),
                "loss_sum": loss_sum, "seen": seen, "best_score": best_score, "best_metrics": best_metrics,
            }
            checkpoint.save(out / "last.safetensors", core.state_dict(), optimizer.state_dict(), state)

        # -- the epochs ---------------------------------------------------------------------------
        last_save = time.monotonic()
        with interrupts.StopRequest() as stop:
            for epoch in range(start_epoch, config.epochs):
                sampler.set_epoch(epoch)  # a new shuffle per epoch, the same on every rank
                train_set.epoch = epoch  # new window offsets and augmentation per epoch
                order = list(sampler)[: steps * batch][start_step * batch :]
                loader = DataLoader(train_set, batch_size=batch, sampler=order, num_workers=workers,
                                    pin_memory=device.type == "cuda", worker_init_fn=_ignore_ctrl_c)
                model.train()
                started, first, rate = time.monotonic(), start_step, 0.0
                with _progress(console, lead) as progress:
                    task = progress.add_task(f"epoch {epoch + 1}/{config.epochs}", total=steps * batch * world,
                                             completed=start_step * batch * world, rate=0.0, loss=math.nan)
                    for step, (x, y) in enumerate(loader, start=start_step):
                        # Stop before the forward pass: it already moves BatchNorm's running statistics.
                        if _any_rank(stop.requested, world, device):
                            if lead:
                                save_last(epoch, step)
                            say(f"interrupted at epoch {epoch + 1}, batch {step + 1}: saved {out / 'last.safetensors'}; continue with "
                                f"`livecmd train --domain {domain.name} --data {data.index.root} --out {out} --resume`")
                            _leave_together(world)
                            return Outcome(out, epoch, best_metrics, interrupted=True)
                        torch.manual_seed(_step_seed(config.seed, rank, epoch, step))  # dropout: same masks after a resume
                        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                            logits = model(x)
                        loss = loss_fn(logits.float(), y)
                        # Every rank must agree before the backward pass (its all-reduce would hang otherwise).
                        if _any_rank(not bool(torch.isfinite(loss)), world, device):
                            raise LivecmdError(
                                f"training stopped: the loss is not finite at epoch {epoch + 1}, batch {step + 1} "
                                f"(lr {_lr(optimizer):g}); lower --lr or check the data (the checkpoints in {out}, if any, are from before it)")
                        optimizer.zero_grad(set_to_none=True)
                        scaler.scale(loss).backward()
                        scaler.step(optimizer)
                        scaler.update()
                        loss_sum += loss.item() * len(x)
                        seen += len(x)
                        rate = (step + 1 - first) * batch * world / max(time.monotonic() - started, 1e-9)
                        progress.update(task, advance=len(x) * world, rate=rate, loss=loss_sum / seen)
                        if lead and time.monotonic() - last_save > config.checkpoint_minutes * 60:
                            save_last(epoch, step + 1)
                            last_save = time.monotonic()

                # -- end of epoch: validate, schedule, keep the best, log, checkpoint -------------
                if not all(bool(torch.isfinite(p).all()) for p in core.parameters()):
                    raise LivecmdError(f"training stopped: the weights are not finite after epoch {epoch + 1}; lower --lr (the checkpoints in {out}, if any, are from before it)")
                valid: dict[str, Any] = {}
                if lead:
                    loader = scoring_loader(valid_set, domain.segments, 64, workers, device.type == "cuda")
                    scores = clip_scores(core, loader, device, dtype, domain.multi_label, Console(stderr=True))
                    valid = _scalars(metrics(domain, labels, [c.labels for c in valid_clips], scores))
                score = _share(valid.get(domain.metric, math.nan), world, device)
                score = -math.inf if math.isnan(score) else score
                scheduler.step(score)
                improved = score > best_score or epoch == 0
                train_loss, seconds = loss_sum / max(seen, 1), time.monotonic() - started
                if improved:
                    best_score, best_metrics = score, {**valid, "split": "valid", "epoch": epoch + 1}
                if lead:
                    if improved:
                        weights.save(out / "best.safetensors", core, _meta(config, domain, labels, window, data.index, best_metrics))
                    if config.keep_epochs:
                        epoch_metrics = {**valid, "split": "valid", "epoch": epoch + 1}
                        weights.save(out / f"epoch-{epoch + 1}.safetensors", core, _meta(config, domain, labels, window, data.index, epoch_metrics))
                    row = {"epoch": epoch + 1, "train_loss": train_loss, "lr": _lr(optimizer), "seconds": round(seconds, 1),
                           "samples_per_s": round(rate, 1), "processes": world, "valid": valid}
                    _append_log(out / "metrics.jsonl", row)
                start_step, loss_sum, seen = 0, 0.0, 0
                if lead:
                    save_last(epoch + 1, 0)
                    last_save = time.monotonic()
                say(f"epoch {epoch + 1}/{config.epochs}  loss {train_loss:.4f}  valid {domain.metric} "
                    f"{valid.get(domain.metric, math.nan):.4f}{' (best)' if improved else ''}  lr {_lr(optimizer):g}  "
                    f"{rate:,.1f} samples/s  {seconds:.0f} s")
        _leave_together(world)
        return Outcome(out, config.epochs, best_metrics, interrupted=False)
    finally:
        if distributed:
            dist.destroy_process_group()


# -- helpers, in the order the loop uses them ------------------------------------------------------


def _run_folder(config: TrainConfig, world: int, device: torch.device) -> Path:
    """`--out`, or runs/<domain>-<arch>-<time>/ with the time of rank 0 (shared, so every
    rank writes to one folder). Created only once the data has been read, so that a wrong
    --data leaves no empty run behind."""
    if config.out is not None:
        out = Path(config.out)
    elif config.resume:
        raise LivecmdError("--resume needs --out with the folder of the run to continue")
    else:
        now = torch.tensor([int(time.time())], device=device)  # NCCL broadcasts GPU tensors only
        if world > 1:
            dist.broadcast(now, src=0)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(int(now)))
        out = Path("runs") / f"{config.domain}-{config.arch}-{stamp}"
    return out


def _config_json(config: TrainConfig, root: Path) -> dict[str, Any]:
    values = asdict(config)
    values["negatives"] = [str(p) for p in config.negatives]
    return {**{k: str(v) if isinstance(v, Path) else v for k, v in values.items()}, "data": str(root)}


def _resumed_config(given: TrainConfig, saved: dict[str, Any]) -> TrainConfig:
    """The run's own settings, with this session's epochs, device, workers and cache."""
    if given.domain != saved["domain"]:
        raise LivecmdError(f"{given.out} is a {saved['domain']} run, not {given.domain}: pass --domain {saved['domain']} to resume it")
    older = {k: v for k, v in _OLDER_RUNS.items() if k not in saved}  # runs of older versions lack some settings
    return replace(given, **{k: saved[k] for k in _RUN_SETTINGS if k in saved}, **older)


def augmentation_for(config: TrainConfig) -> Augmentation:
    """The speech augmentation of a run. Its shift is a fraction of the window: `shift_ms` of
    the domain's window, so a shorter trial window (--input-samples) shifts in proportion."""
    domain = get_domain(config.domain)
    return Augmentation(max_shift=config.shift_ms * domain.sample_rate / 1000 / domain.input_samples, whole_words=config.whole_words, cut_words=config.cut_words,
                        speed=config.speed, room=config.room, gain_db=(-config.quiet_db, 6.0))


def _initial_state(config: TrainConfig, domain: str, labels: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The weights of `--init`, refused unless they are for this domain, arch and label list
    (fine-tuning keeps the output layer, so its classes must be the data's, in order)."""
    start = weights.load(config.init)  # safetensors only, checked against its own metadata
    meta = start.meta
    if (meta.domain, meta.arch) != (domain, config.arch):
        raise LivecmdError(f"--init {config.init} is a {meta.domain} {meta.arch} model, not {domain} {config.arch}: "
                           f"pass --domain {meta.domain} --arch {meta.arch} or other weights")
    if tuple(meta.labels) != tuple(labels):
        raise LivecmdError(f"--init {config.init} has the labels {', '.join(meta.labels)}, but the data has "
                           f"{', '.join(labels)}: fine-tune on data with the same classes")
    return start.model.state_dict()


def _truncate_log(log: Path, epochs: int) -> None:
    """Drop log lines of epochs after the checkpoint (written just before a kill -9), and a last
    line torn by a kill or a full disk in the middle of its write. Rewritten atomically."""
    if not log.is_file():
        return
    rows = []
    for line in log.read_text().splitlines():
        try:
            if json.loads(line)["epoch"] <= epochs:
                rows.append(line)
        except (ValueError, KeyError, TypeError):
            continue
    tmp = log.with_name(log.name + ".tmp")
    try:
        tmp.write_text("".join(row + "\n" for row in rows))
        os.replace(tmp, log)
    except OSError as e:
        raise _unwritable(log, e) from None


def _append_log(log: Path, row: dict[str, Any]) -> None:
    try:
        with open(log, "a") as f:
            f.write(json.dumps(row) + "\n")
    except OSError as e:
        raise _unwritable(log, e) from None


def _unwritable(path: Path, error: OSError) -> LivecmdError:
    return LivecmdError(f"cannot write {path} ({error.strerror}); the checkpoints beside it are unchanged: "
                        "free disk space or choose a writable folder, then --resume")


def _lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def _progress(console: Console, enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} samples  {task.fields[rate]:,.1f} samples/s  loss {task.fields[loss]:.4f}"),
        TimeRemainingColumn(), console=console, transient=True, disable=not (enabled and console.is_terminal),
    )


def _ignore_ctrl_c(worker: int) -> None:
    """DataLoader workers ignore Ctrl-C: the main process decides when to stop, after the
    current batch, and shuts them down itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _step_seed(seed: int, rank: int, epoch: int, step: int) -> int:
    """The torch seed of one step: dropout masks depend only on where the step is, so a resumed
    run draws what an uninterrupted one would (no RNG state to carry across processes)."""
    return int(np.random.SeedSequence([seed, rank, epoch, step]).generate_state(1)[0])


def _any_rank(flag: bool, world: int, device: torch.device) -> bool:
    """Whether `flag` is true on any rank (a stop request, a loss that is not finite)."""
    if world == 1:
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t)


def _leave_together(world: int) -> None:
    """Wait until every rank is done (rank 0 is still writing the checkpoints when the others
    finish), so that no process tears down its process group while a peer still uses it."""
    if world > 1:
        dist.barrier()


def _share(value: float, world: int, device: torch.device) -> float:
    """Rank 0's validation metric, on every rank (each steps its own lr scheduler)."""
    if world == 1:
        return float(value)
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return float(t)


def _scalars(result: dict[str, Any]) -> dict[str, Any]:
    """The numeric metrics only (the confusion matrix stays out of logs and metadata)."""
    return {k: v for k, v in result.items() if isinstance(v, (int, float))}


def _meta(config: TrainConfig, domain: Any, labels: tuple[str, ...], window: int, ix: Any,
          best: dict[str, Any]) -> weights.WeightsMeta:
    recipe = {k: getattr(config, k) for k in ("optimizer", "lr", "batch_size", "amp", "augment", "shift_ms", "whole_words", "cut_words", "speed", "room", "quiet_db",
                                              "seed", "epoch_windows", "train_splits", "valid_from", "lr_scale")}
    if config.negatives:
        recipe["negatives"] = [str(p) for p in config.negatives]
        recipe["negatives_share"] = config.negatives_share
    if config.init is not None:
        recipe["init"] = str(config.init)
    return weights.WeightsMeta(
        arch=config.arch, domain=domain.name, labels=labels, sample_rate=domain.sample_rate, input_samples=window,
        training_data=f"{ix.layout} at {ix.root}", metrics=best,
        extra={"data": str(ix.root), "epochs": config.epochs, "recipe": recipe},
    )
