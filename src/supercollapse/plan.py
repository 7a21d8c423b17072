"""The plan of every training run: config (+ the data's meta.json, + the fitted horizon) -> the run's numbers.

Pure (no JAX). The rules size their jobs from a run's plan (runtime, memory, grouping) and pass the same plan
to the job as a param, so a width's parameter count, steps, tokens and evaluation grid are computed once,
here. A transformer's parameter count needs its data's meta.json (the tokenizer decides the vocabulary), and
a compute-optimal run's steps need the horizon fit (fit_frontier): until those exist, the rules ask again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from . import jobsize
from .analysis.frontier import HorizonFit, horizon_compute, horizon_steps
from .models.param_count import mlp_params, transformer_params
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


def token_meta(task_cfg: dict, meta: dict | None) -> dict:
    """The meta.json fields a transformer task's size depends on, checked against the task's config."""
    if meta is None:
        raise ValueError("a transformer task's parameter count needs its data's meta.json (vocab_size); "
                         "tokenize the data first")
    for key in ("vocab_size", "seq_len"):
        if not isinstance(meta.get(key), int) or meta[key] < 2:
            raise ValueError(f"meta.json: {key} must be an integer >= 2, got {meta.get(key)!r}")
    seq_len = task_cfg["data"].get("seq_len")
    if seq_len is not None and int(seq_len) != meta["seq_len"]:
        raise ValueError(f"meta.json seq_len {meta['seq_len']} differs from the task's data.seq_len {seq_len}; "
                         "re-tokenize the data")
    return meta


def model_params(task_cfg: dict, width: int, meta: dict | None = None) -> int:
    """Parameter count of the task's model at `width`; a transformer task needs its data's `meta`."""
    model = task_cfg["model"]
    if task_cfg["kind"] == "fourier_mlp":
        return mlp_params(width, model["depth"], task_cfg["data"]["input_dim"], model["expansion"])
    meta = token_meta(task_cfg, meta)
    return transformer_params(width, model["depth"], meta["vocab_size"], meta["seq_len"] - 1, model["expansion"])


def tokens_per_step(task_cfg: dict, meta: dict | None = None) -> int:
    """Tokens of one update: the batch (samples) of the regression task, batch x (seq_len - 1) predicted
    tokens of a transformer task."""
    batch = int(task_cfg["optim"]["batch_size"])
    if task_cfg["kind"] == "fourier_mlp":
        return batch
    return batch * (token_meta(task_cfg, meta)["seq_len"] - 1)


def sweep_steps(task_cfg: dict, width: int) -> int:
    """Updates of one sweep run: sweep.steps_by_width[width] if given, else sweep.steps."""
    sweep = task_cfg["sweep"]
    by_width = {int(k): int(v) for k, v in sweep["steps_by_width"].items()}
    return by_width.get(int(width), int(sweep["steps"]))


def job_flops(task_cfg: dict, width: int, seeds: int, steps: int, meta: dict | None = None) -> float:
    """FLOPs of a training job at `width` (all seeds, evaluations and, for a transformer, attention)."""
    params, batch, n_evals = model_params(task_cfg, width, meta), task_cfg["optim"]["batch_size"], task_cfg["n_evals"]
    if task_cfg["kind"] == "fourier_mlp":
        return jobsize.train_flops(params, steps, batch, seeds, n_evals, task_cfg["data"]["eval_size"])
    context = meta["seq_len"] - 1
    return jobsize.train_flops(params, steps, batch, seeds, n_evals, task_cfg["data"]["eval_sequences"], context,
                               jobsize.attention_flops_per_token(task_cfg["model"]["depth"], width, context))


def job_mem_mb(task_cfg: dict, width: int, seeds: int, meta: dict | None = None) -> int:
    """Host memory (MB) of a training job at `width` (all seeds)."""
    m, batch, params = task_cfg["model"], task_cfg["optim"]["batch_size"], model_params(task_cfg, width, meta)
    if task_cfg["kind"] == "fourier_mlp":
        return jobsize.mem_mb(params, seeds, batch, width, m["depth"], m["expansion"], task_cfg["data"]["eval_size"])
    return jobsize.transformer_mem_mb(params, seeds, batch, width, m["depth"], m["expansion"], meta["seq_len"] - 1,
                                      meta["vocab_size"], m["head_dim"])


def _plan(task: str, task_cfg: dict, study: str, width: int, steps: int, seeds: tuple[int, ...], schedule: str,
          decay_frac: float, meta: dict | None, **extra) -> RunPlan:
    width, steps = int(width), int(steps)
    flops = job_flops(task_cfg, width, len(seeds), steps, meta)
    return RunPlan(task=task, study=study, width=width, params=model_params(task_cfg, width, meta), steps=steps,
                   tokens_per_step=tokens_per_step(task_cfg, meta), seeds=tuple(seeds), schedule=schedule,
                   decay_frac=float(decay_frac), evaluations=int(eval_steps(steps, int(task_cfg["n_evals"])).size),
                   flops=flops, runtime_min=jobsize.runtime_minutes(flops),
                   mem_mb=job_mem_mb(task_cfg, width, len(seeds), meta), **extra)


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
    per_example_grads = 4 * plan.params * plan.noise_chunk * n_seeds * jobsize.SAFETY / 1e6
    return RunPlan(**{**plan.__dict__, "flops": flops, "runtime_min": jobsize.runtime_minutes(flops),
                      "mem_mb": plan.mem_mb + 256 * int(-(-per_example_grads // 256))})


def job_group(role: str, task_cfg: dict, width: int, meta: dict | None = None) -> str | None:
    """The cluster group of a small job ("sweep_small" or "optimal_small"; None for a big one), so that small
    jobs share submissions. Sized at the sweep's longest run for both roles: a horizon is not known when the
    DAG is built, and lies within the range of compute the sweep covered."""
    longest = max(sweep_steps(task_cfg, w) for w in task_cfg["sweep"]["widths"])
    seeds = task_cfg["collapse" if role == "optimal" else "sweep"]["seeds"]
    return f"{role}_small" if jobsize.is_small_job(job_flops(task_cfg, width, seeds, longest, meta)) else None
