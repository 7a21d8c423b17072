"""The µP transformer and the token task: shapes, parameter count, causality, init, training, resume."""

from __future__ import annotations

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from supercollapse.models.mup import leaf_shapes, lr_multipliers
from supercollapse.models.param_count import transformer_params
from supercollapse.models.transformer import Transformer
from supercollapse.schemas import CURVES, check_table
from supercollapse.train import checkpoint as ckpt
from supercollapse.train.engine import RunSpec, _lr_tree, train
from supercollapse.train.tasks import TokenTask

V, S = 11, 17  # vocabulary, tokens per row (the model sees S - 1)


def _model(width=32, depth=2, expansion=1, head_dim=8, key=0, attention="xla"):
    return Transformer(jax.random.PRNGKey(key), width=width, depth=depth, vocab_size=V, context=S - 1,
                       expansion=expansion, head_dim=head_dim, attention=attention)


def _random_init(model, scale=0.3, key=1):
    """The same model with every array random (zero-initialised outputs would hide a causality leak)."""
    leaves, treedef = jax.tree.flatten(model)
    keys = jax.random.split(jax.random.PRNGKey(key), len(leaves))
    return jax.tree.unflatten(treedef, [scale * jax.random.normal(k, a.shape) for k, a in zip(keys, leaves)])


@pytest.mark.parametrize("width,depth,expansion,head_dim", [(16, 1, 1, 8), (32, 3, 1, 16), (24, 2, 4, 8)])
def test_parameter_count_matches_arrays(width, depth, expansion, head_dim):
    model = _model(width, depth, expansion, head_dim)
    n = sum(a.size for a in jax.tree.leaves(eqx.filter(model, eqx.is_array)))
    L = S - 1
    assert n == transformer_params(width, depth, V, L, expansion)
    assert n == 2 * V * width + L * width + depth * (4 + 2 * expansion) * width**2


def test_width_must_be_a_multiple_of_head_dim():
    with pytest.raises(ValueError, match="multiple of model.head_dim 64"):
        Transformer(jax.random.PRNGKey(0), width=96, depth=1, vocab_size=V, context=8)
    with pytest.raises(ValueError, match="head_dim"):
        RunSpec(task="t", study="s", width=40, depth=1, steps=2, batch_size=2, seeds=(0,), kind="transformer",
                vocab_size=V, seq_len=S, head_dim=16, base_width=32)


def test_changing_a_later_token_never_changes_earlier_logits():
    model = _random_init(_model(width=32, depth=2, head_dim=8))
    tokens = jax.random.randint(jax.random.PRNGKey(2), (S - 1,), 0, V)
    logits = model(tokens)
    assert logits.shape == (S - 1, V) and bool(jnp.all(jnp.isfinite(logits)))
    for t in (0, 5, S - 3):
        changed = tokens.at[t + 1].set((tokens[t + 1] + 1) % V)
        other = model(changed)
        np.testing.assert_array_equal(np.asarray(other[: t + 1]), np.asarray(logits[: t + 1]))
        assert not np.allclose(np.asarray(other[t + 1]), np.asarray(logits[t + 1]))  # the change is seen


@pytest.mark.parametrize("T,chunk", [(37, 8), (16, 16), (5, 128)])
def test_chunked_attention_matches_the_reference_with_gradients(T, chunk):
    from supercollapse.models.transformer import chunked_causal_attention

    q, k, v = (jax.random.normal(jax.random.PRNGKey(i), (T, 3, 8)) for i in range(3))

    def loss(fn, q, k, v):
        return jnp.sum(jnp.sin(fn(q, k, v)))

    reference = lambda q, k, v: jax.nn.dot_product_attention(q, k, v, is_causal=True)  # noqa: E731
    chunked = lambda q, k, v: chunked_causal_attention(q, k, v, chunk=chunk)  # noqa: E731
    np.testing.assert_allclose(chunked(q, k, v), reference(q, k, v), rtol=1e-5, atol=1e-6)
    for g_c, g_r in zip(jax.grad(loss, argnums=(1, 2, 3))(chunked, q, k, v),
                        jax.grad(loss, argnums=(1, 2, 3))(reference, q, k, v)):
        np.testing.assert_allclose(g_c, g_r, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("T", [31, 5])
def test_einsum_attention_is_the_library_attention_with_gradients(T):
    """Implementation xla (causal_attention) against jax.nn.dot_product_attention: the same forward values,
    gradients to float32 rounding."""
    from supercollapse.models.transformer import causal_attention

    q, k, v = (jax.random.normal(jax.random.PRNGKey(i), (T, 4, 8)) for i in range(3))
    reference = lambda q, k, v: jax.nn.dot_product_attention(q, k, v, is_causal=True)  # noqa: E731
    np.testing.assert_allclose(causal_attention(q, k, v), reference(q, k, v), rtol=1e-6, atol=1e-7)

    def loss(fn, q, k, v):
        return jnp.sum(jnp.sin(fn(q, k, v)))

    for g_e, g_r in zip(jax.grad(loss, argnums=(1, 2, 3))(causal_attention, q, k, v),
                        jax.grad(loss, argnums=(1, 2, 3))(reference, q, k, v)):
        np.testing.assert_allclose(g_e, g_r, rtol=1e-5, atol=1e-6)


def test_chunked_model_matches_xla_and_stays_causal():
    model = _random_init(_model(width=32, depth=2, head_dim=8))
    chunked = _random_init(_model(width=32, depth=2, head_dim=8, attention="chunked"))
    tokens = jax.random.randint(jax.random.PRNGKey(2), (S - 1,), 0, V)
    np.testing.assert_allclose(chunked(tokens), model(tokens), rtol=1e-5, atol=1e-5)
    changed = tokens.at[4].set((tokens[4] + 1) % V)
    np.testing.assert_array_equal(np.asarray(chunked(changed)[:4]), np.asarray(chunked(tokens)[:4]))


def test_mup_initialisation_and_multipliers():
    model = _model(width=256, depth=3, head_dim=64)
    assert float(model.embed_VxD.std()) == pytest.approx(0.1, rel=0.05)
    assert float(model.pos_embed_LxD.std()) == pytest.approx(0.1, rel=0.1)
    assert float(model.qkv_Nx3DxD.std()) == pytest.approx(1 / np.sqrt(256), rel=0.03)
    assert float(model.w1_NxHxD.std()) == pytest.approx(1 / np.sqrt(256), rel=0.03)
    for zero in (model.attn_out_NxDxD, model.w2_NxDxH, model.readout_VxD):
        assert jnp.all(zero == 0)
    assert model.residual_mult == pytest.approx(3 / 3)
    # Zero readout: the initial model predicts the uniform distribution (loss log V).
    assert jnp.all(model(jnp.arange(S - 1) % V) == 0)
    acts = model.activations(jnp.arange(S - 1) % V)
    assert acts["attn"].shape == (3, S - 1, 256) and acts["logits"].shape == (S - 1, V)


def test_mup_learning_rates_of_the_transformer():
    def shapes(width):
        return leaf_shapes(Transformer(jax.random.PRNGKey(0), width=width, depth=2, vocab_size=V, context=S - 1,
                                       expansion=2, head_dim=32))

    mults = lr_multipliers(shapes(512), shapes(128), embed_lr_mult=10.0)
    # Both embeddings: fan-in fixed (a one-hot over tokens or positions): base LR times the multiplier.
    assert mults["embed_VxD"] == 10.0 and mults["pos_embed_LxD"] == 10.0
    for name in ("qkv_Nx3DxD", "attn_out_NxDxD", "w1_NxHxD", "w2_NxDxH", "readout_VxD"):
        assert mults[name] == pytest.approx(128 / 512), name


def _tokens(n, seed):
    """Rows of a simple learnable process: x_{t+1} = (x_t + 1 or + 2) mod V."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(1, 3, size=(n, S - 1))
    start = rng.integers(0, V, size=(n, 1))
    return (np.concatenate([start, start + np.cumsum(steps, axis=1)], axis=1) % V).astype(np.uint16)


@pytest.fixture(scope="module")
def task():
    return TokenTask(_tokens(512, 0), _tokens(64, 1))


def _spec(**kw):
    base = dict(task="chess", study="test", width=16, depth=2, steps=40, batch_size=16, seeds=(0, 1),
                kind="transformer", vocab_size=V, seq_len=S, head_dim=8, base_width=16, schedule="linear",
                warmup_steps=4, lr=0.01, embed_lr_mult=10.0, n_evals=8)
    return RunSpec(**{**base, **kw})


@pytest.fixture(scope="module")
def float32_run(task):
    return train(_spec(), task)


def test_token_training_follows_the_contract_and_learns(task, float32_run):
    spec = _spec()
    table, meta = float32_run
    check_table(table, CURVES)
    df = table.to_pandas()
    np.testing.assert_array_equal(df.tokens, df.step * spec.batch_size * (S - 1))
    np.testing.assert_allclose(df.compute, 6.0 * spec.params * df.tokens)
    assert spec.params == transformer_params(16, 2, V, S - 1, 1)
    assert json.loads(table.schema.metadata[b"supercollapse.run"])["tokens_per_s"] > 0
    first = df[df.step == 0].eval_loss.to_numpy()
    np.testing.assert_allclose(first, np.log(V), rtol=1e-5)  # zero readout: uniform prediction
    # The process has 1 bit of entropy per token (after the first): training gets well below log V.
    assert df[df.step == 40].eval_loss.max() < 0.8 * np.log(V)


def test_token_loss_is_the_mean_next_token_cross_entropy(task):
    spec = _spec()
    model = _random_init(_model(width=16, depth=2, head_dim=8))
    row = jnp.asarray(task.eval_tokens[0])
    logits = np.asarray(model(row[:-1].astype(jnp.int32)), dtype=np.float64)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    targets = np.asarray(row[1:], dtype=np.int64)
    expected = -np.mean(logp[np.arange(S - 1), targets])
    assert float(task.example_loss(model, row)) == pytest.approx(expected, rel=1e-5)
    # Masking zero targets drops exactly those positions.
    masked = TokenTask(task.train_tokens, task.eval_tokens, mask_zero_targets=True)
    keep = targets != 0
    assert float(masked.example_loss(model, row)) == pytest.approx(
        -np.mean(logp[np.arange(S - 1), targets][keep]), rel=1e-5)
    with pytest.raises(ValueError, match="mask_zero_targets"):
        train(spec, masked)


def test_token_batches_depend_only_on_seed_and_step(task):
    key = jax.random.fold_in(jax.random.PRNGKey(3), 7)
    a = TokenTask.batch(jnp.asarray(task.train_tokens), key, 8)
    b = TokenTask.batch(jnp.asarray(task.train_tokens), key, 8)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    rows = {tuple(r) for r in task.train_tokens.tolist()}
    assert all(tuple(r) in rows for r in np.asarray(a).tolist())


def test_bad_token_data_is_rejected(task):
    with pytest.raises(ValueError, match="seq_len 9 does not match"):
        train(_spec(seq_len=9), task)
    with pytest.raises(ValueError, match="outside the vocabulary of size 5"):
        train(_spec(vocab_size=5), task)
    with pytest.raises(TypeError, match="needs a FourierTask, got TokenTask"):
        train(_spec(kind="fourier_mlp", input_dim=4), task)


def test_token_run_resumes_bit_identically(task, tmp_path):
    spec = _spec(steps=30, n_evals=10, seed_batching="sequential")
    policy = ckpt.CheckpointPolicy(tmp_path / "w16", every_s=1e9, every_steps=10)
    reference, _ = train(spec, task, checkpoint=policy)  # leaves its last checkpoint (run_job clears it)
    header = json.loads(np.load(policy.path)["__header__"].tobytes().decode())
    assert header["group"] == 1
    resumed, meta = train(spec, task, checkpoint=policy)
    assert meta["resumed_from"] is not None
    for column in ("eval_loss", "train_loss"):
        np.testing.assert_array_equal(resumed.column(column).to_numpy(), reference.column(column).to_numpy())


def test_bfloat16_compute_runs_the_transformer_close_to_float32(task, float32_run):
    a, _ = float32_run
    b, _ = train(_spec(compute_dtype="bfloat16"), task)
    ea, eb = a.column("eval_loss").to_numpy(), b.column("eval_loss").to_numpy()
    assert not np.array_equal(ea, eb)
    np.testing.assert_allclose(eb, ea, rtol=0.05)


def test_lr_tree_of_a_transformer_run():
    spec = _spec(width=64, base_width=16)
    model = eqx.filter(_model(width=64, depth=2, head_dim=8), eqx.is_array)
    tree = _lr_tree(spec, model)
    assert tree.embed_VxD == tree.pos_embed_LxD == 10.0
    assert tree.qkv_Nx3DxD == pytest.approx(16 / 64) and tree.readout_VxD == pytest.approx(16 / 64)
