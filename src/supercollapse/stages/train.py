"""The training rules' jobs: a run's plan (plan.py) and its task's data in, its curves (schema CURVES) out.

A job's inputs are named as in the training rules: a `fourier_mlp` task reads the make_task artifacts
(`target`, `evalset`), a `transformer` task the tokenize artifacts (`train`, `test`) and its `meta` (meta.json):
KINDS[kind].job_reads. Imports JAX: start the device claim (workflow.start_device_job) before importing this.
"""

from __future__ import annotations

import logging
import os

import jax

from .. import jobsize
from ..devices import host_memory_mb
from ..io import read_json, write_table
from ..kinds import KINDS, kind_of
from ..plan import RunPlan, job_memory_check
from ..train import checkpoint as ckpt
from ..train.engine import RunSpec, resolve_devices, train
from ..train.tasks import FourierTask, TokenTask
from .fourier_task import read_fourier_task

log = logging.getLogger("supercollapse.train")

def _model_fields(task_cfg: dict, meta: dict | None) -> dict:
    """The RunSpec fields that define the task's model (and, for tokens, its loss)."""
    model = task_cfg["model"]
    return {"kind": task_cfg["kind"], "depth": int(model["depth"]), "expansion": int(model["expansion"]),
            "base_width": int(model["base_width"]), **kind_of(task_cfg).model_fields(task_cfg, meta)}


def _optim_fields(task_cfg: dict) -> dict:
    optim = task_cfg["optim"]
    return {"lr": float(optim["lr"]), "embed_lr_mult": float(optim["embed_lr_mult"]), "b1": float(optim["b1"]),
            "b2": float(optim["b2"]), "eps": float(optim["eps"]),
            "compute_dtype": str(task_cfg["model"]["compute_dtype"])}


def run_spec(plan: RunPlan, task_cfg: dict, meta: dict | None = None) -> RunSpec:
    """The engine's RunSpec of a planned run, with the task's model and optimizer settings (config slice);
    a transformer task also needs its data's `meta` (meta.json)."""
    warmup = int(task_cfg["optim"]["warmup_steps"])
    if warmup >= plan.steps:
        raise ValueError(
            f"tasks.{plan.task}.optim.warmup_steps ({warmup}) must be smaller than the run length of width "
            f"{plan.width} in study {plan.study!r} ({plan.steps} steps); lower the warmup or use larger widths")
    spec = RunSpec(
        task=plan.task, study=plan.study, width=plan.width, **_model_fields(task_cfg, meta), steps=plan.steps,
        batch_size=int(task_cfg["optim"]["batch_size"]), seeds=plan.seeds, schedule=plan.schedule,
        decay_frac=plan.decay_frac, warmup_steps=warmup, **_optim_fields(task_cfg),
        lr_reference_width=plan.lr_reference_width, n_evals=int(task_cfg["n_evals"]),
        seed_batching=str(task_cfg["seed_batching"]), noise_examples=plan.noise_examples,
        noise_chunk=plan.noise_chunk)
    if spec.params != plan.params:
        raise ValueError(f"width {plan.width}: the model has {spec.params} parameters, the plan {plan.params}")
    return spec


def _fourier_task(inputs: dict, eval_sequences: int | None) -> FourierTask:
    return FourierTask(*read_fourier_task(inputs["target"], inputs["evalset"]))


def _token_task(inputs: dict, eval_sequences: int | None) -> TokenTask:
    """A transformer task evaluates on the first `eval_sequences` test rows (all of them when None)."""
    from ..data.tokens import read_tokens

    meta = read_json(inputs["meta"])
    test = read_tokens(inputs["test"])
    if eval_sequences is not None:
        if len(test) < eval_sequences:
            raise ValueError(f"{inputs['test']}: {len(test)} test sequences, fewer than data.eval_sequences "
                             f"({eval_sequences})")
        test = test[:eval_sequences]
    return TokenTask(read_tokens(inputs["train"]), test, bool(meta.get("mask_zero_targets", False)))


# Task kind -> the engine adapter (train/tasks.py) of a job, from its named input files (kinds.py artifacts).
LOADERS = {"fourier_mlp": _fourier_task, "transformer": _token_task}


def load_task(spec: RunSpec, inputs: dict, eval_sequences: int | None = None):
    """The task adapter of a job from its named input files (KINDS[spec.kind].job_reads)."""
    missing = [name for name in KINDS[spec.kind].job_reads if name not in inputs]
    if missing:
        raise ValueError(f"a {spec.kind} job needs the inputs {list(KINDS[spec.kind].job_reads)}, missing {missing}")
    return LOADERS[spec.kind](inputs, eval_sequences)


def run_job(spec: RunSpec, inputs: dict, out_path, extra_meta: dict | None = None,
            checkpoint: ckpt.CheckpointPolicy | None = None, devices: int = 1,
            eval_sequences: int | None = None, data_placement: str = "auto") -> dict:
    """Train one job and write its curves; with `checkpoint`, resume from it and remove it once written.

    `inputs`: the job's named input files (INPUTS[spec.kind])."""
    task = load_task(spec, inputs, eval_sequences)
    log.info("training %s/%s width %d (%d params): %d steps x batch %d (%d tokens each), seeds %s, schedule %s",
             spec.task, spec.study, spec.width, spec.params, spec.steps, spec.batch_size, spec.tokens_per_example,
             list(spec.seeds), spec.schedule)
    table, meta = train(spec, task, extra_meta=extra_meta, checkpoint=checkpoint, devices=devices,
                        data_placement=data_placement)
    write_table(out_path, table)
    if checkpoint is not None:
        ckpt.clear(checkpoint)
    log.info("done in %.1fs (compile %.1fs), %.0f samples/s, %.0f tokens/s, train data on the %s", meta["wall_time_s"],
             meta["compile_time_s"] or 0, meta["samples_per_s"], meta["tokens_per_s"], meta["data_placement"])
    return meta


def _memory_mb() -> int:
    """The memory a job's arrays live in: the device's where the backend reports it, else the host's."""
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    return int(stats["bytes_limit"]) // 2**20 if "bytes_limit" in stats else host_memory_mb()


def log_estimate(plan: RunPlan, backend: str, cpu_cores: int) -> float:
    """Log the job's expected wall time on this backend (seconds, returned). Its `runtime` resource assumes an
    accelerator; on a CPU a width far past the sweep takes hours, not minutes: a warning then."""
    rate = jobsize.backend_flops_per_s(backend, cpu_cores)
    seconds = jobsize.estimated_seconds(plan.flops, rate)
    where = f"this CPU ({cpu_cores} cores at about {jobsize.CPU_FLOPS_PER_S_PER_CORE:.0e} FLOP/s each)"
    if backend == "cpu" and seconds > 60 * plan.runtime_min:
        log.warning("tasks.%s width %d (%s): about %.3g FLOPs, about %.1f h on %s, beyond the %d min of its "
                    "runtime resource, which assumes an accelerator at %.0e FLOP/s (jobsize.py)", plan.task,
                    plan.width, plan.study, plan.flops, seconds / 3600, where, plan.runtime_min,
                    jobsize.ACCELERATOR_FLOPS_PER_S)
    else:
        log.info("about %.3g FLOPs: about %.0f min on %s", plan.flops, seconds / 60,
                 where if backend == "cpu" else f"a {backend} at about {rate:.0e} FLOP/s")
    return seconds


def train_run(plan: dict, task_cfg: dict, inputs: dict, out_path, execution: dict, code_hash: str) -> dict:
    """The job of rules sweep_run, optimal_run and schedule_run: train the planned run and write its curves.

    `execution`: how to run it, none of which changes what is computed (so none is a rerun trigger):
    `results` (where checkpoints live), `checkpoint` (every_s, every_steps), `devices`, `data_placement`."""
    plan = RunPlan.from_dict(plan)
    meta = read_json(inputs["meta"]) if kind_of(task_cfg).tokenized else None
    spec = run_spec(plan, task_cfg, meta)
    job_memory_check(f"tasks.{plan.task}", task_cfg, plan.width, len(plan.seeds), plan.mem_mb, _memory_mb())
    log_estimate(plan, jax.default_backend(), os.cpu_count() or 1)
    extra = {"code_hash": code_hash, **({"horizon": plan.horizon} if plan.horizon is not None else {})}
    policy = ckpt.CheckpointPolicy(ckpt.checkpoint_dir(execution["results"], out_path), **execution["checkpoint"])
    return run_job(spec, inputs, out_path, extra_meta=extra, checkpoint=policy,
                   devices=resolve_devices(execution["devices"]), eval_sequences=task_cfg["data"].get("eval_sequences"),
                   data_placement=execution["data_placement"])


def coord_check_run(task: str, task_cfg: dict, coord_cfg: dict, inputs: dict, out_path) -> None:
    """The µP coordinate check of a transformer task (train/coord.py) with its model and optimizer settings,
    written to `out_path` (schema COORD_CHECK). Config keys: coord_check in the config schema."""
    from ..train.coord import coord_check

    if task_cfg["kind"] != "transformer":
        raise ValueError(f"tasks.{task}: the coordinate check is for transformer tasks, got kind {task_cfg['kind']!r}")
    meta = read_json(inputs["meta"])
    head_dim = int(task_cfg["model"]["head_dim"])
    widths = coord_cfg["widths"] or [head_dim * 2**i for i in range(4)]
    spec = RunSpec(task=task, study="coord_check", width=int(widths[0]), steps=int(coord_cfg["steps"]),
                   batch_size=int(coord_cfg["batch_size"] or task_cfg["optim"]["batch_size"]), seeds=(0,),
                   **_model_fields(task_cfg, meta), **_optim_fields(task_cfg))
    token_task = load_task(spec, inputs, int(coord_cfg["probe_sequences"]))
    table = coord_check(spec, token_task, widths, spec.steps, token_task.eval_tokens)
    write_table(out_path, table)
    log.info("coordinate check of %s at widths %s over %d steps written to %s", task, widths, spec.steps, out_path)
