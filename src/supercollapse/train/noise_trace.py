"""The SGD-noise level of a run: Tr(P⁻¹Σ), the minibatch gradient covariance preconditioned by Adam.

DESIGN §3 (noise model): a scheduled run's loss is the constant-LR loss at equal intrinsic time plus
α · (η(t)/η_peak − 1) · Tr(P⁻¹Σ). Here, as in the paper's code:
- Σ is the covariance of the *minibatch-mean* gradient at the training batch size B, i.e. the per-example
  gradient covariance divided by B (the paper estimates it from the spread of batch-mean gradients of
  size-B evaluation batches; we use per-example gradients, which estimate the same matrix with less noise).
- P⁻¹ = diag(η_peak,layer / (sqrt(v̂) + eps)): v̂ is Adam's bias-corrected second moment (ν / (1 − b2^count)),
  η_peak,layer the peak LR of each array (base LR times its µP multiplier). The schedule is left out: the
  model multiplies by η(t)/η_peak itself.
So Tr(P⁻¹Σ) = Σ_j η_j / (sqrt(v̂_j) + eps) · Var_example(g_j) / B, in units of the loss.

Everything here is a pure, jittable function of arrays; the per-example gradients are taken in chunks
(`jax.vmap(jax.grad)` inside a `lax.scan`) so memory is chunk_size × parameters, not examples × parameters.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax


def adam_preconditioner(adam_state: optax.ScaleByAdamState, lr_tree: Any, peak_lr: float | jax.Array,
                        b2: float, eps: float) -> Any:
    """diag(P⁻¹) as a pytree shaped like the parameters: peak_lr · lr_mult / (sqrt(v̂) + eps).

    v̂ = ν / (1 − b2^count) (optax's bias correction; `count` is the number of updates applied). Before the
    first update (count 0) there is no second moment: every entry is NaN.
    """
    count = jnp.asarray(adam_state.count)
    correction = 1.0 - jnp.asarray(b2, jnp.float32) ** count.astype(jnp.float32)
    # count == 0 makes the correction 0: a NaN preconditioner says "not measured" rather than inf or 0.
    correction = jnp.where(count > 0, correction, jnp.nan)
    return jax.tree.map(lambda nu, mult: peak_lr * mult / (jnp.sqrt(nu / correction) + eps),
                        adam_state.nu, lr_tree)


def _chunked(examples: Any, chunk_size: int) -> tuple[Any, jax.Array, int]:
    """(examples reshaped to (n_chunks, chunk, ...) with zero padding, weights (n_chunks, chunk), n)."""
    leaves = jax.tree.leaves(examples)
    if not leaves:
        raise ValueError("examples is an empty pytree")
    n = int(leaves[0].shape[0])
    if any(int(leaf.shape[0]) != n for leaf in leaves):
        raise ValueError(f"every leaf of examples needs the same leading (example) axis, got shapes "
                         f"{[leaf.shape for leaf in leaves]}")
    if n < 2:
        raise ValueError(f"a covariance needs at least 2 examples, got {n}")
    chunk = max(1, min(int(chunk_size), n))
    n_chunks = -(-n // chunk)
    pad = n_chunks * chunk - n

    def reshape(leaf):
        leaf = jnp.asarray(leaf)
        if pad:
            leaf = jnp.concatenate([leaf, jnp.zeros((pad,) + leaf.shape[1:], leaf.dtype)])
        return leaf.reshape((n_chunks, chunk) + leaf.shape[1:])

    weights = (jnp.arange(n_chunks * chunk) < n).astype(jnp.float32).reshape(n_chunks, chunk)
    return jax.tree.map(reshape, examples), weights, n


def preconditioned_gradient_variance(loss_fn: Callable[[Any, Any], jax.Array], params: Any, precond: Any,
                                     examples: Any, chunk_size: int = 256) -> jax.Array:
    """Tr(P⁻¹ Σ₁): the preconditioned per-example gradient covariance (unbiased, divisor n − 1).

    `loss_fn(params, example)` is the loss of ONE example (no batch axis); `examples` is a pytree whose
    leaves have a leading axis of n examples; `precond` is diag(P⁻¹) shaped like `params`. The per-example
    gradients u_i = sqrt(P⁻¹) g_i are reduced chunk by chunk with the pairwise (Chan et al.) update of the
    mean and the sum of squared deviations, which stays accurate when the mean gradient is much larger
    than its spread.
    """
    chunks, weights, n = _chunked(examples, chunk_size)
    scale = jax.tree.map(jnp.sqrt, precond)
    per_example_grad = jax.vmap(jax.grad(loss_fn), in_axes=(None, 0))

    def body(carry, chunk):
        count, mean, m2 = carry
        xs, w_C = chunk
        grads = per_example_grad(params, xs)
        u = jax.tree.map(lambda g, s: g.astype(jnp.float32) * s, grads, scale)
        n_c = jnp.sum(w_C)

        def bcast(w, leaf):
            return w.reshape((-1,) + (1,) * (leaf.ndim - 1))

        mean_c = jax.tree.map(lambda u_C: jnp.sum(bcast(w_C, u_C) * u_C, axis=0) / n_c, u)
        m2_c = sum(jnp.sum(bcast(w_C, u_C) * (u_C - m) ** 2) for u_C, m in
                   zip(jax.tree.leaves(u), jax.tree.leaves(mean_c)))
        total = count + n_c
        delta = jax.tree.map(lambda a, b: a - b, mean_c, mean)
        delta_sq = sum(jnp.sum(d**2) for d in jax.tree.leaves(delta))
        mean = jax.tree.map(lambda m, d: m + d * (n_c / total), mean, delta)
        m2 = m2 + m2_c + delta_sq * count * n_c / total
        return (total, mean, m2), None

    zero_mean = jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
    (_, _, m2), _ = jax.lax.scan(body, (jnp.float32(0.0), zero_mean, jnp.float32(0.0)), (chunks, weights))
    return m2 / (n - 1)


def noise_trace(loss_fn: Callable[[Any, Any], jax.Array], params: Any, adam_state: optax.ScaleByAdamState,
                lr_tree: Any, peak_lr: float | jax.Array, examples: Any, batch_size: int, b2: float, eps: float,
                chunk_size: int = 256) -> jax.Array:
    """Tr(P⁻¹Σ) at the training batch size `batch_size` (DESIGN §3), a float32 scalar (NaN before the
    first update).

    `lr_tree`: each array's LR multiplier (µP), shaped like `params`; `peak_lr`: the base LR at the peak of
    the schedule; `b2`, `eps`: the run's Adam settings (those of `adam_state`). `examples`: held-out or
    fresh examples from the training distribution (n >= 2), see `preconditioned_gradient_variance`.
    """
    precond = adam_preconditioner(adam_state, lr_tree, peak_lr, b2, eps)
    return preconditioned_gradient_variance(loss_fn, params, precond, examples, chunk_size) / batch_size
