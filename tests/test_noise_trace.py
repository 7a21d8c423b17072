"""Tr(P⁻¹Σ) estimator (train/noise_trace.py) against closed forms and a brute-force covariance."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from supercollapse.models.mlp import MLP
from supercollapse.train.noise_trace import adam_preconditioner, noise_trace, preconditioned_gradient_variance


def _linreg_loss(w, example):
    x, y = example
    return 0.5 * (jnp.dot(w, x) - y) ** 2


def _linreg(d, n, sigma, seed):
    """Gaussian-input linear regression: examples, the current weights w and the teacher w*."""
    rng = np.random.default_rng(seed)
    w_star = rng.normal(size=d)
    w = w_star + rng.normal(size=d) * 0.5
    x = rng.normal(size=(n, d))
    y = x @ w_star + sigma * rng.normal(size=n)
    return w.astype(np.float32), w_star, (x.astype(np.float32), y.astype(np.float32))


def test_linear_regression_matches_closed_form_covariance():
    # For x ~ N(0, I), y = w*.x + sigma xi and g = (w.x - y) x with delta = w - w*:
    # Cov(g) = (|delta|^2 + sigma^2) I + delta delta^T (Isserlis), so Tr(D Cov) = sum_j D_j (|delta|^2 + sigma^2 + delta_j^2).
    d, n, sigma = 6, 60_000, 0.7
    w, w_star, examples = _linreg(d, n, sigma, seed=0)
    delta = w.astype(np.float64) - w_star
    precond = np.linspace(0.5, 3.0, d).astype(np.float32)
    expected = np.sum(precond * (delta @ delta + sigma**2 + delta**2))
    got = float(preconditioned_gradient_variance(_linreg_loss, jnp.asarray(w), jnp.asarray(precond), examples,
                                                 chunk_size=4096))
    assert got == pytest.approx(expected, rel=0.03)


def test_batch_size_divides_the_per_example_covariance_like_batch_means_do():
    # Sigma refers to the minibatch-mean gradient at the training batch size: check against the spread of
    # actual batch means of size B (the paper's estimator), preconditioner included.
    d, B, n_batches, sigma = 4, 32, 3000, 0.3
    w, w_star, (x, y) = _linreg(d, B * n_batches, sigma, seed=1)
    mult = np.array([1.0, 2.0, 0.5, 4.0], dtype=np.float32)
    state = optax.ScaleByAdamState(count=jnp.int32(10), mu=jnp.zeros(d), nu=jnp.full(d, 0.04, jnp.float32))
    b2, eps, peak = 0.95, 1e-8, 0.01
    trace = float(noise_trace(_linreg_loss, jnp.asarray(w), state, jnp.asarray(mult), peak, (x, y), B, b2, eps,
                              chunk_size=1000))
    p_inv = peak * mult / (np.sqrt(0.04 / (1 - b2**10)) + eps)
    g = ((x @ w - y)[:, None] * x).astype(np.float64).reshape(n_batches, B, d).mean(axis=1)
    batch_estimate = np.sum(p_inv * g.var(axis=0, ddof=1))
    assert trace == pytest.approx(batch_estimate, rel=0.06)


def test_preconditioner_is_peak_lr_over_sqrt_bias_corrected_second_moment():
    params = {"a": jnp.ones((3, 2)), "b": jnp.ones(4)}
    adam = optax.scale_by_adam(b1=0.9, b2=0.95, eps=1e-6)
    state = adam.init(params)
    grads = {"a": jnp.arange(6.0).reshape(3, 2) - 2.0, "b": jnp.array([0.1, -3.0, 2.0, 0.0])}
    for _ in range(3):
        _, state = adam.update(grads, state)
    mults = {"a": jnp.full((3, 2), 0.25), "b": jnp.full(4, 10.0)}
    got = adam_preconditioner(state, mults, 0.01, 0.95, 1e-6)
    for key in params:
        # After three identical gradients nu = (1 - b2^3) g^2, so v_hat = g^2 exactly.
        expected = 0.01 * np.asarray(mults[key]) / (np.abs(np.asarray(grads[key])) + 1e-6)
        np.testing.assert_allclose(np.asarray(got[key]), expected, rtol=1e-5)
    fresh = adam_preconditioner(adam.init(params), mults, 0.01, 0.95, 1e-6)
    assert all(np.isnan(np.asarray(leaf)).all() for leaf in jax.tree.leaves(fresh))


@pytest.mark.parametrize("chunk_size", [7, 1000])
def test_mlp_matches_brute_force_covariance_for_any_chunking(chunk_size):
    # A real model, a random diagonal preconditioner, and the full per-example gradient matrix in float64.
    key = jax.random.PRNGKey(0)
    model = MLP(key, width=8, depth=2, input_dim=3)
    # Non-zero readout and block outputs so every array has a gradient.
    model = jax.tree.map(lambda a: a + 0.1 * jax.random.normal(jax.random.PRNGKey(a.size), a.shape), model)
    rng = np.random.default_rng(2)
    n = 150
    x = rng.uniform(-0.5, 0.5, size=(n, 3)).astype(np.float32)
    y = np.sin(3 * x.sum(axis=1)).astype(np.float32)
    precond = jax.tree.map(lambda a: jnp.asarray(rng.uniform(0.1, 2.0, a.shape), jnp.float32), model)

    def loss(m, example):
        xi, yi = example
        return 0.5 * (m(xi[None])[0] - yi) ** 2

    estimate = jax.jit(lambda m, p, ex: preconditioned_gradient_variance(loss, m, p, ex, chunk_size=chunk_size))
    got = float(estimate(model, precond, (x, y)))
    grads = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0)))(model, (x, y))
    G = np.concatenate([np.asarray(g, np.float64).reshape(n, -1) for g in jax.tree.leaves(grads)], axis=1)
    D = np.concatenate([np.asarray(p, np.float64).reshape(-1) for p in jax.tree.leaves(precond)])
    expected = np.trace(np.diag(D) @ np.cov(G, rowvar=False))
    assert got == pytest.approx(expected, rel=1e-4)


def test_jit_and_vmap_over_seeds_equal_one_seed_at_a_time():
    d, n = 5, 300
    ws, states, examples = [], [], None
    for seed in range(3):
        w, _, examples = _linreg(d, n, 0.5, seed=seed)
        ws.append(w)
        states.append(optax.ScaleByAdamState(count=jnp.int32(seed + 1), mu=jnp.zeros(d),
                                             nu=jnp.full(d, 0.1 * (seed + 1), jnp.float32)))
    mult = jnp.ones(d)

    def one(w, state):
        return noise_trace(_linreg_loss, w, state, mult, 0.003, examples, 64, 0.95, 1e-20, chunk_size=128)

    batched = jax.jit(jax.vmap(one))(jnp.stack(ws), jax.tree.map(lambda *a: jnp.stack(a), *states))
    single = [float(one(jnp.asarray(w), s)) for w, s in zip(ws, states)]
    np.testing.assert_allclose(np.asarray(batched), single, rtol=1e-5)


def test_bad_examples_are_rejected():
    w = jnp.ones(3)
    with pytest.raises(ValueError, match="same leading"):
        preconditioned_gradient_variance(_linreg_loss, w, w, (jnp.ones((5, 3)), jnp.ones(4)))
    with pytest.raises(ValueError, match="at least 2"):
        preconditioned_gradient_variance(_linreg_loss, w, w, (jnp.ones((1, 3)), jnp.ones(1)))
