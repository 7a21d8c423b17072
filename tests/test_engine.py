import json

import numpy as np
import pytest

from supercollapse.data.fourier import make_target, sample_inputs
from supercollapse.schemas import CURVES, check_table
from supercollapse.train.engine import RunSpec, train
from supercollapse.train.schedules import schedule_values
from supercollapse.train.tasks import FourierTask


@pytest.fixture(scope="module")
def task():
    target = make_target(32, 4, 2.0, seed=0)
    x = sample_inputs(np.random.default_rng(1), 256, 4).astype(np.float32)
    return FourierTask(target, x, target(x.astype(np.float64)))


def _spec(**kw):
    base = dict(task="fourier", study="test", width=8, depth=2, input_dim=4, steps=60, batch_size=64,
                seeds=(0, 1), schedule="linear", warmup_steps=5, lr=0.003, n_evals=10, base_width=8)
    return RunSpec(**{**base, **kw})


def test_curves_follow_the_contract_and_account_compute(task):
    spec = _spec()
    table, meta = train(spec, task)
    check_table(table, CURVES)
    df = table.to_pandas()
    assert sorted(df.seed.unique()) == [0, 1]
    np.testing.assert_array_equal(df.tokens, df.step * spec.batch_size)
    np.testing.assert_allclose(df.compute, 6.0 * spec.params * df.tokens)
    s = schedule_values("linear", 60, 5, 1.0)
    tau = spec.lr * np.concatenate([[0.0], np.cumsum(s)])
    np.testing.assert_allclose(df.tau, tau[df.step])
    assert df.step.max() == 60 and df.step.min() == 0
    assert not df.diverged.any()
    assert json.loads(table.schema.metadata[b"supercollapse.run"])["params"] == spec.params
    # Training reduces the loss below the zero predictor's.
    first = df[df.step == 0].eval_loss.mean()
    last = df[df.step == 60].eval_loss.mean()
    assert last < first


def test_same_seed_gives_identical_curves(task):
    a, _ = train(_spec(), task)
    b, _ = train(_spec(), task)
    np.testing.assert_array_equal(a.column("eval_loss").to_numpy(), b.column("eval_loss").to_numpy())
    # Seeds differ from each other.
    loss = a.to_pandas().pivot(index="step", columns="seed", values="eval_loss")
    assert not np.allclose(loss[0].values[1:], loss[1].values[1:])


def test_sequential_seed_batching_matches_vmap(task):
    a, _ = train(_spec(), task)
    b, _ = train(_spec(seed_batching="sequential"), task)
    np.testing.assert_allclose(a.column("eval_loss").to_numpy(), b.column("eval_loss").to_numpy(), rtol=1e-4)


def test_divergence_is_flagged_not_raised(task):
    table, meta = train(_spec(lr=1e30, warmup_steps=0), task)
    assert table.column("diverged").to_numpy().all()
    assert meta["diverged_seeds"] == [0, 1]


def test_a_blow_up_with_finite_losses_is_flagged_diverged(task):
    """Issue 17, case 3: with a far too large LR the losses stay finite but end far above where they started."""
    table, meta = train(_spec(lr=100.0, warmup_steps=0), task)
    loss = table.column("eval_loss").to_numpy()
    assert np.isfinite(loss).all() and loss.max() > 100 * loss[0]
    assert table.column("diverged").to_numpy().all() and meta["diverged_seeds"] == [0, 1]


def test_divergence_rule():
    from supercollapse.divergence import divergence_index

    assert divergence_index([1.0, 0.5, 0.3]) is None
    assert divergence_index([1.0, 5.0, 0.5, 0.3]) is None  # a spike that recovers
    assert divergence_index([1.0, 0.5, 3.0, 4.0]) == 2  # above 2x the initial loss from there to the end
    assert divergence_index([1.0, 0.5, np.nan, 0.3]) == 2
    assert divergence_index([1.0, 0.5, 0.4], [np.nan, 0.6, np.inf]) == 2
    assert divergence_index([1.0, 3.0, 3.0]) == 1


def test_bfloat16_compute_trains_close_to_float32(task):
    a, _ = train(_spec(), task)
    b, meta = train(_spec(compute_dtype="bfloat16"), task)
    ea, eb = a.column("eval_loss").to_numpy(), b.column("eval_loss").to_numpy()
    assert not np.array_equal(ea, eb)  # the bf16 path really ran
    np.testing.assert_allclose(eb, ea, rtol=0.05)  # and trains the same model to bf16 accuracy
    assert meta["spec"]["compute_dtype"] == "bfloat16"
    with pytest.raises(ValueError, match="compute_dtype must be one of"):
        _spec(compute_dtype="float16")


def test_noise_trace_is_logged_on_request_and_matches_a_direct_computation(task):
    import jax
    import jax.numpy as jnp

    from supercollapse.train.engine import build_programs, initial_state

    off, _ = train(_spec(width=16), task)
    spec = _spec(width=16, noise_examples=100, noise_chunk=32)
    on, _ = train(spec, task)
    assert np.isnan(off.column("noise_trace").to_numpy()).all()
    # Measuring the noise does not touch training.
    np.testing.assert_array_equal(on.column("eval_loss").to_numpy(), off.column("eval_loss").to_numpy())
    df = on.to_pandas()
    assert df[df.step == 0].noise_trace.isna().all() and (df[df.step > 0].noise_trace > 0).all()

    # Independently: train to the end, then sum over parameters of lr * µP multiplier / (sqrt(v_hat) + eps)
    # times the per-example gradient variance of the first 100 evaluation examples, over the batch size.
    programs = build_programs(spec, task, schedule_values(spec.schedule, spec.steps, spec.warmup_steps))
    state, lr_tree = initial_state(spec, programs.init, spec.seeds)
    params, adam = programs.run_segment((jnp.int32(0), jnp.int32(spec.steps)), state, lr_tree)[:2]
    # µP at width 16 over base width 8: the input layer keeps the base LR, every other matrix gets half.
    mults = {"embed_DxI": 1.0, "w1_NxHxD": 0.5, "w2_NxDxH": 0.5, "readout_OxD": 0.5}
    x, y = (a[:100] for a in task.eval_data)
    for seed in spec.seeds:
        p = jax.tree.map(lambda a: a[seed], params)
        grads = jax.vmap(jax.grad(task.example_loss), in_axes=(None, 0))(p, (x, y))
        count = int(adam.count[seed])
        expected = 0.0
        for name, mult in mults.items():
            g = np.asarray(getattr(grads, name), np.float64).reshape(100, -1)
            nu = np.asarray(getattr(adam.nu, name)[seed], np.float64).reshape(-1) / (1 - spec.b2**count)
            expected += np.sum(spec.lr * mult / (np.sqrt(nu) + spec.eps) * g.var(axis=0, ddof=1))
        got = df[(df.seed == seed) & (df.step == spec.steps)].noise_trace.item()
        assert got == pytest.approx(expected / spec.batch_size, rel=1e-3)
