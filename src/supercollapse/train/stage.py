"""The training stage: one job = one (task, study, width), all seeds, curves written per DESIGN §2."""

from __future__ import annotations

import logging

from ..data.stage import load_fourier_task
from ..io import write_table
from ..models.mlp import count_params
from . import checkpoint as ckpt
from .engine import RunSpec, train

log = logging.getLogger("supercollapse.train")


def model_params(task_cfg: dict, width: int) -> int:
    """Parameter count of the task's model at `width` (every parameter, embeddings included)."""
    model = task_cfg["model"]
    return count_params(int(width), int(model["depth"]), int(task_cfg["data"]["input_dim"]),
                        int(model["expansion"]))


def run_spec(task: str, task_cfg: dict, study: str, width: int, steps: int, seeds: int, schedule: str,
             decay_frac: float, lr_reference_width: int | None = None) -> RunSpec:
    """Build the RunSpec of one job from the task's config slice (keys as in the config schema)."""
    model, optim, data = task_cfg["model"], task_cfg["optim"], task_cfg["data"]
    warmup = int(optim["warmup_steps"])
    if warmup >= steps:
        raise ValueError(
            f"tasks.{task}.optim.warmup_steps ({warmup}) must be smaller than the run length of width {width} "
            f"in study {study!r} ({steps} steps); lower the warmup or use larger widths")
    return RunSpec(
        task=task, study=study, width=int(width), depth=int(model["depth"]), input_dim=int(data["input_dim"]),
        expansion=int(model["expansion"]), base_width=int(model["base_width"]), steps=int(steps),
        batch_size=int(optim["batch_size"]), seeds=tuple(range(int(seeds))), schedule=schedule,
        decay_frac=float(decay_frac), warmup_steps=warmup, lr=float(optim["lr"]),
        embed_lr_mult=float(optim["embed_lr_mult"]), b1=float(optim["b1"]), b2=float(optim["b2"]),
        eps=float(optim["eps"]), lr_reference_width=lr_reference_width, n_evals=int(task_cfg["n_evals"]),
        seed_batching=str(task_cfg["seed_batching"]), compute_dtype=str(model["compute_dtype"]))


def run_job(spec: RunSpec, target_path, eval_path, out_path, extra_meta: dict | None = None,
            checkpoint: ckpt.CheckpointPolicy | None = None, devices: int = 1) -> dict:
    """Train one job and write its curves; with `checkpoint`, resume from it and remove it once written."""
    target, x, y = load_fourier_task(target_path, eval_path)
    log.info("training %s/%s width %d (%d params): %d steps x batch %d, seeds %s, schedule %s",
             spec.task, spec.study, spec.width, spec.params, spec.steps, spec.batch_size, list(spec.seeds),
             spec.schedule)
    table, meta = train(spec, target, x, y, extra_meta=extra_meta, checkpoint=checkpoint, devices=devices)
    write_table(out_path, table)
    if checkpoint is not None:
        ckpt.clear(checkpoint)
    log.info("done in %.1fs (compile %.1fs), %.0f samples/s", meta["wall_time_s"], meta["compile_time_s"] or 0,
             meta["samples_per_s"])
    return meta
