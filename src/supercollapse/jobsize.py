"""How big a training job is: its FLOPs, and from them the runtime and memory a cluster job should ask for.

Pure functions (no JAX): the workflow evaluates them when it builds the job list. The numbers are
deliberately generous estimates for one accelerator; a profile can override them per rule
(`set-resources`), and a site with a short time limit should.
"""

from __future__ import annotations

import math

# Effective throughput of one accelerator on these models. Well below an H100's dense bf16 peak (~1e15):
# small widths are launch-bound, and the curves are evaluated often.
ACCELERATOR_FLOPS_PER_S = 1e14
STARTUP_S = 180.0  # Python + JAX import, compilation of the train and eval programs, writing Parquet
SAFETY = 2.0  # runtime and memory asked for, relative to the estimate
HOST_BASE_MB = 4096  # resident memory of a JAX process before any array (CUDA/XLA runtimes included)
BYTES_PER_PARAM_STATE = 4 * 4  # float32 parameters, gradients and Adam's two moments
MIN_RUNTIME_MIN = 5
# Jobs estimated below this many minutes (before SAFETY) are grouped, several per cluster submission.
SMALL_JOB_MIN = 10.0


def train_flops(params: int, steps: int, batch_size: int, seeds: int, n_evals: int, eval_size: int) -> float:
    """FLOPs of one job (all seeds): C = 6 P per sample trained, plus 2 P per sample evaluated (float64)."""
    train = 6.0 * params * float(batch_size) * steps
    evals = 2.0 * params * float(eval_size) * n_evals
    return float(seeds) * (train + evals)


def estimated_seconds(flops: float) -> float:
    """Wall time of a job of `flops` FLOPs on one accelerator, before the safety factor."""
    return STARTUP_S + flops / ACCELERATOR_FLOPS_PER_S


def runtime_minutes(flops: float) -> int:
    """The `runtime` resource (minutes) of a job of `flops` FLOPs."""
    return max(MIN_RUNTIME_MIN, math.ceil(SAFETY * estimated_seconds(flops) / 60.0))


def mem_mb(params: int, seeds: int, batch_size: int, width: int, depth: int, expansion: int,
           eval_size: int) -> int:
    """The `mem_mb` resource (host memory, MB) of one job, rounded up to 256 MB.

    The state and the activations of all seeds (which a vmapped job holds at once) are counted against the
    host as well, since device buffers are staged through it when results are copied back.
    """
    state = BYTES_PER_PARAM_STATE * params * seeds
    # Residual stream, block input and hidden activations kept for the backward pass (float32).
    activations = 4 * seeds * max(batch_size, eval_size) * width * depth * (2 + 2 * expansion)
    needed = HOST_BASE_MB + SAFETY * (state + activations) / 1e6
    return int(256 * math.ceil(needed / 256))


def is_small_job(flops: float) -> bool:
    """Whether a job is short enough to share a cluster submission with others of its kind."""
    return estimated_seconds(flops) < 60.0 * SMALL_JOB_MIN
