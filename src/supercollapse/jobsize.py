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
# A CPU's training rate per core on wide models: this 2-core machine trained the paper-shape MLP at 196 GFLOP/s
# (docs/benchmarks.md). Narrow models run below it (launch-bound): estimates from it are lower bounds there.
CPU_FLOPS_PER_S_PER_CORE = 1e11
STARTUP_S = 180.0  # Python + JAX import, compilation of the train and eval programs, writing Parquet
SAFETY = 2.0  # runtime and memory asked for, relative to the estimate
HOST_BASE_MB = 4096  # resident memory of a JAX process before any array (CUDA/XLA runtimes included)
BYTES_PER_PARAM_STATE = 4 * 4  # float32 parameters, gradients and Adam's two moments
MIN_RUNTIME_MIN = 5
# Jobs estimated below this many minutes (before SAFETY) are grouped, several per cluster submission.
SMALL_JOB_MIN = 10.0


def train_flops(params: int, steps: int, batch_size: int, seeds: int, n_evals: int, eval_size: int,
                tokens_per_example: int = 1, attention_flops_per_token: float = 0.0) -> float:
    """FLOPs of one job (all seeds): 6 P per token trained, plus 2 P per token evaluated (float64).

    A sample is `tokens_per_example` tokens (seq_len - 1 for a transformer); `attention_flops_per_token` is
    the forward attention cost per token (see `attention_flops_per_token`), which the paper's C = 6 P tokens
    leaves out but a job's runtime does not (3x for a training token: forward and backward)."""
    train = (6.0 * params + 3.0 * attention_flops_per_token) * float(batch_size) * tokens_per_example * steps
    evals = (2.0 * params + attention_flops_per_token) * float(eval_size) * tokens_per_example * n_evals
    return float(seeds) * (train + evals)


def attention_flops_per_token(depth: int, width: int, context: int) -> float:
    """Forward FLOPs per token of the attention scores and their weighted sum (q k^T and a v), over the
    whole context as the XLA and cuDNN kernels compute them (causal masking does not skip work there)."""
    return 4.0 * depth * context * width


def estimated_seconds(flops: float, flops_per_s: float = ACCELERATOR_FLOPS_PER_S) -> float:
    """Wall time of a job of `flops` FLOPs at `flops_per_s` (one accelerator by default), before the safety factor."""
    return STARTUP_S + flops / flops_per_s


def backend_flops_per_s(backend: str, cpu_cores: int) -> float:
    """The training rate assumed on a JAX backend ("cpu", "gpu", "tpu"): an accelerator's, or the CPU's cores'."""
    return CPU_FLOPS_PER_S_PER_CORE * max(1, cpu_cores) if backend == "cpu" else ACCELERATOR_FLOPS_PER_S


def runtime_minutes(flops: float) -> int:
    """The `runtime` resource (minutes) of a job of `flops` FLOPs."""
    return max(MIN_RUNTIME_MIN, math.ceil(SAFETY * estimated_seconds(flops) / 60.0))


EVAL_BYTES_PER_EXAMPLE = 64  # a Fourier evaluation example: float32 inputs (up to 15 dims) and its target


def mem_mb(params: int, seeds: int, batch_size: int, width: int, depth: int, expansion: int,
           eval_size: int) -> int:
    """The `mem_mb` resource (host memory, MB) of one job, rounded up to 256 MB.

    The state and the activations of all seeds (which a vmapped job holds at once) are counted against the
    host as well, since device buffers are staged through it when results are copied back.
    """
    state = BYTES_PER_PARAM_STATE * params * seeds
    # Residual stream, block input and hidden activations kept for the backward pass (float32); evaluation runs
    # in chunks of at most one batch (engine.build_programs), so the batch bounds it too.
    activations = 4 * seeds * batch_size * width * depth * (2 + 2 * expansion)
    eval_set = EVAL_BYTES_PER_EXAMPLE * eval_size  # the evaluation set itself, held on the device
    return _round_mb(HOST_BASE_MB + SAFETY * (state + activations + eval_set) / 1e6)


def transformer_mem_mb(params: int, seeds: int, batch_size: int, width: int, depth: int, expansion: int,
                       context: int, vocab_size: int, head_dim: int) -> int:
    """The `mem_mb` resource (host memory, MB) of one transformer job, rounded up to 256 MB.

    Activations kept for the backward pass per token: the residual stream, norms, q/k/v, the attention
    output and the MLP hidden layer of every block (about 10 + 4 e widths), the logits (V) and, with XLA's
    attention, the full score matrix of every head (context per head; a fused kernel such as cuDNN's does not
    keep it, so this errs high on a GPU)."""
    state = BYTES_PER_PARAM_STATE * params * seeds
    per_token = depth * ((10 + 4 * expansion) * width + (width // head_dim) * context) + 3 * vocab_size
    activations = 4 * seeds * batch_size * context * per_token
    return _round_mb(HOST_BASE_MB + SAFETY * (state + activations) / 1e6)


def _round_mb(mb: float) -> int:
    return int(256 * math.ceil(mb / 256))


def is_small_job(flops: float) -> bool:
    """Whether a job is short enough to share a cluster submission with others of its kind."""
    return estimated_seconds(flops) < 60.0 * SMALL_JOB_MIN
