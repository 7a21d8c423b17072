"""The plan of every training run: config (+ the data's meta.json, + the fitted horizon) -> the run's numbers.

Pure (no JAX). The rules size their jobs from a run's plan (runtime, memory, grouping) and pass the same plan
to the job as a param, so a width's parameter count, steps, tokens and evaluation grid are computed once,
here. A transformer's parameter count needs its data's meta.json (the tokenizer decides the vocabulary), and
a compute-optimal run's steps need the horizon fit (fit_frontier): until those exist, the rules ask again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from . import jobsize
from .analysis.horizon import HorizonFit, horizon_compute, horizon_steps
from .kinds import kind_of
from .train.eval_grid import eval_steps


@dataclass(frozen=True)
class RunPlan:
    """One training job: one width of one task, all its seeds."""

    task: str
    study: str  # "sweep", a study name, or "schedules"
    width: int
    params: int  # every parameter, embeddings included (C = 6 P tokens)
    steps: int  # updates
    tokens_per_step: int  # batch samples (Fourier) or batch x (seq_len - 1) predicted tokens
    seeds: tuple[int, ...]
    schedule: str
    decay_frac: float
    evaluations: int  # distinct evaluation steps (train/eval_grid.py)
    flops: float  # the whole job: every seed, its evaluations, attention included (sizes the job, not C)
    runtime_min: int  # the `runtime` resource
    mem_mb: int  # the `mem_mb` resource
    lr_reference_width: int | None = None  # µP LRs of this width instead of the run's own (no-µP ablation)
    noise_examples: int = 0  # > 0: the noise trace from this many evaluation examples (schedule study)
    noise_chunk: int = 256
    horizon: dict | None = None  # compute-optimal runs: kappa, gamma, optimal_compute (FLOPs) and the scales

    @property
    def tokens(self) -> int:
        return self.steps * self.tokens_per_step

    def to_dict(self) -> dict:
        return {**asdict(self), "seeds": list(self.seeds)}

    @classmethod
    def from_dict(cls, d: dict) -> "RunPlan":
        return cls(**{**d, "seeds": tuple(d["seeds"])})


def model_params(task_cfg: dict, width: int, meta: dict | None = None) -> int:
    """Parameter count of the task's model at `width`; a transformer task needs its data's `meta`."""
    return kind_of(task_cfg).params(task_cfg, width, meta)


def tokens_per_step(task_cfg: dict, meta: dict | None = None) -> int:
    """Tokens of one update: the batch (samples) of the regression task, batch x (seq_len - 1) predicted
    tokens of a transformer task."""
    return int(task_cfg["optim"]["batch_size"]) * kind_of(task_cfg).tokens_per_example(task_cfg, meta)


def sweep_steps(task_cfg: dict, width: int) -> int:
    """Updates of one sweep run: sweep.steps_by_width[width] if given, else sweep.steps."""
    sweep = task_cfg["sweep"]
    by_width = {int(k): int(v) for k, v in sweep["steps_by_width"].items()}
    return by_width.get(int(width), int(sweep["steps"]))


def _plan(task: str, task_cfg: dict, study: str, width: int, steps: int, seeds: tuple[int, ...], schedule: str,
          decay_frac: float, meta: dict | None, **extra) -> RunPlan:
    width, steps = int(width), int(steps)
    kind = kind_of(task_cfg)
    flops = kind.job_flops(task_cfg, width, len(seeds), steps, meta)
    return RunPlan(task=task, study=study, width=width, params=model_params(task_cfg, width, meta), steps=steps,
                   tokens_per_step=tokens_per_step(task_cfg, meta), seeds=tuple(seeds), schedule=schedule,
                   decay_frac=float(decay_frac), evaluations=int(eval_steps(steps, int(task_cfg["n_evals"])).size),
                   flops=flops, runtime_min=jobsize.runtime_minutes(flops),
                   mem_mb=run_mem_mb(task_cfg, width, len(seeds), meta), **extra)


def sweep_plan(task: str, task_cfg: dict, width: int, meta: dict | None = None) -> RunPlan:
    """A constant-LR sweep run (config tasks.<task>.sweep)."""
    sweep = task_cfg["sweep"]
    return _plan(task, task_cfg, "sweep", width, sweep_steps(task_cfg, width), tuple(range(int(sweep["seeds"]))),
                 sweep["schedule"], 1.0, meta)


def optimal_plan(task: str, task_cfg: dict, study: str, study_cfg: dict, width: int, fit: HorizonFit,
                 meta: dict | None = None) -> RunPlan:
    """A compute-optimal run of a study: its horizon from the frontier fit, scaled as the study says."""
    params = model_params(task_cfg, width, meta)
    steps = horizon_steps(fit, params, tokens_per_step(task_cfg, meta), study_cfg["horizon_scale"],
                          study_cfg["gamma_scale"])
    horizon = {"kappa": fit.kappa, "gamma": fit.gamma,
               "optimal_compute": horizon_compute(fit, params, study_cfg["gamma_scale"]),
               "horizon_scale": study_cfg["horizon_scale"], "gamma_scale": study_cfg["gamma_scale"]}
    return _plan(task, task_cfg, study, width, steps, tuple(range(int(task_cfg["collapse"]["seeds"]))),
                 study_cfg["schedule"], study_cfg["decay_frac"], meta,
                 lr_reference_width=study_cfg["lr_reference_width"], horizon=horizon)


def schedule_runs(sched_cfg: dict) -> list[tuple[str, float]]:
    """(schedule, decay_frac) of every run of the LR-schedule study: 'const' once (its decay fraction does not
    matter), every other schedule at every decay fraction."""
    runs = [("const", 1.0)] if "const" in sched_cfg["schedules"] else []
    return runs + [(s, float(d)) for s in sched_cfg["schedules"] if s != "const" for d in sched_cfg["decay_fracs"]]


def schedule_plan(task: str, task_cfg: dict, sched_cfg: dict, schedule: str, decay_frac: float,
                  fit: HorizonFit | None, meta: dict | None = None) -> RunPlan:
    """A run of the LR-schedule study (config `schedules`): schedules.steps, or the horizon at its width.

    Its FLOPs and memory include the noise trace: a forward and backward pass per example at every
    evaluation, and the per-example gradients of one chunk per seed."""
    width, n_seeds = int(sched_cfg["width"]), int(sched_cfg["seeds"])
    steps = sched_cfg["steps"]
    if steps is None:
        steps = horizon_steps(fit, model_params(task_cfg, width, meta), tokens_per_step(task_cfg, meta),
                              sched_cfg["horizon_scale"])
    first = int(sched_cfg["first_seed"])
    plan = _plan(task, task_cfg, "schedules", width, steps, tuple(range(first, first + n_seeds)), schedule,
                 decay_frac, meta, noise_examples=int(sched_cfg["noise_examples"]),
                 noise_chunk=int(sched_cfg["noise_chunk"]))
    example_tokens = plan.tokens_per_step // int(task_cfg["optim"]["batch_size"])
    flops = plan.flops + 6.0 * plan.params * plan.noise_examples * example_tokens * task_cfg["n_evals"] * n_seeds
    return RunPlan(**{**plan.__dict__, "flops": flops, "runtime_min": jobsize.runtime_minutes(flops),
                      "mem_mb": run_mem_mb(task_cfg, width, n_seeds, meta, sched_cfg)})


def run_mem_mb(task_cfg: dict, width: int, seeds: int, meta: dict | None = None, sched_cfg: dict | None = None) -> int:
    """The `mem_mb` resource of a training job. It does not grow with the run's length, so it is known before
    a horizon is. A schedule-study run (`sched_cfg`) also holds the per-example gradients of one chunk per seed."""
    mem = kind_of(task_cfg).job_mem_mb(task_cfg, width, seeds, meta)
    if sched_cfg is None:
        return mem
    per_example_grads = 4 * model_params(task_cfg, width, meta) * sched_cfg["noise_chunk"] * seeds * jobsize.SAFETY
    return mem + 256 * int(-(-per_example_grads / 1e6 // 256))


def job_group(role: str, task_cfg: dict, width: int, meta: dict | None = None) -> str | None:
    """The cluster group of a small job ("sweep_small" or "optimal_small"; None for a big one), so that small
    jobs share submissions. Sized at the sweep's longest run for both roles: a horizon is not known when the
    DAG is built, and lies within the range of compute the sweep covered."""
    longest = max(sweep_steps(task_cfg, w) for w in task_cfg["sweep"]["widths"])
    seeds = task_cfg["collapse" if role == "optimal" else "sweep"]["seeds"]
    flops = kind_of(task_cfg).job_flops(task_cfg, width, seeds, longest, meta)
    return f"{role}_small" if jobsize.is_small_job(flops) else None


def job_memory_check(key: str, task_cfg: dict, width: int, seeds: int, requested: int, available_mb: int) -> None:
    """Raise, naming `key`, the width, batch and seeds, when a job's memory estimate (its `mem_mb` request
    without the safety factor) exceeds `available_mb`: fail before training, not when allocation fails."""
    needed = jobsize.HOST_BASE_MB + (requested - jobsize.HOST_BASE_MB) / jobsize.SAFETY
    if needed > available_mb:
        raise ValueError(
            f"{key}: width {width} (batch {task_cfg['optim']['batch_size']}, {seeds} seeds) needs about "
            f"{needed:,.0f} MB of memory, but this machine has {available_mb:,} MB; lower the width, the batch or "
            "the seeds (or seed_batching: sequential), or run it on a cluster profile")
