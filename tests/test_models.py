import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from supercollapse.models.mlp import MLP
from supercollapse.models.param_count import mlp_params
from supercollapse.models.mup import leaf_shapes, lr_multipliers
from supercollapse.train.engine import RunSpec, _lr_tree


@pytest.mark.parametrize("width,depth,expansion", [(16, 3, 1), (64, 5, 1), (32, 2, 4)])
def test_parameter_count_matches_arrays(width, depth, expansion):
    model = MLP(jax.random.PRNGKey(0), width=width, depth=depth, input_dim=8, expansion=expansion)
    n = sum(a.size for a in jax.tree.leaves(eqx.filter(model, eqx.is_array)))
    assert n == mlp_params(width, depth, 8, expansion)
    assert mlp_params(width, depth, 8, 1) == 8 * width + 2 * depth * width**2 + width


def test_the_plan_and_the_run_spec_agree():
    """The plan's parameter count (pure, at DAG time) is the model's, and its seeds are the job's."""
    from supercollapse.plan import model_params, schedule_plan, sweep_plan
    from supercollapse.stages.train import run_spec

    cfg = {"kind": "fourier_mlp", "model": {"depth": 3, "expansion": 2, "base_width": 16, "compute_dtype": "float32"},
           "data": {"input_dim": 4, "eval_size": 64},
           "optim": {"warmup_steps": 1, "batch_size": 8, "lr": 0.01, "embed_lr_mult": 1.0, "b1": 0.9,
                     "b2": 0.95, "eps": 1e-20},
           "n_evals": 10, "seed_batching": "vmap",
           "sweep": {"widths": [16, 24], "steps": 100, "steps_by_width": {"24": 120}, "seeds": 2, "schedule": "const"}}
    plan = sweep_plan("t", cfg, 24)
    spec = run_spec(plan, cfg)
    assert model_params(cfg, 24) == plan.params == spec.params
    assert (plan.steps, spec.steps, spec.seeds) == (120, 120, (0, 1))
    sched = {"width": 16, "steps": 50, "seeds": 3, "first_seed": 100, "horizon_scale": 1.0, "noise_examples": 4,
             "noise_chunk": 2}
    assert run_spec(schedule_plan("t", cfg, sched, "cosine", 0.5, None), cfg).seeds == (100, 101, 102)


def test_mup_initialisation():
    model = MLP(jax.random.PRNGKey(1), width=256, depth=3, input_dim=8)
    assert jnp.all(model.w2_NxDxH == 0) and jnp.all(model.readout_OxD == 0)
    assert float(model.w1_NxHxD.std()) == pytest.approx(1 / np.sqrt(256), rel=0.03)
    assert float(model.embed_DxI.std()) == pytest.approx(1 / np.sqrt(8), rel=0.1)
    # Zero readout: the initial function is exactly zero, so the initial loss is E[y^2] / 2.
    assert jnp.all(model(jnp.ones((4, 8))) == 0)


def test_mup_learning_rates_scale_with_fan_in():
    base = leaf_shapes(MLP(jax.random.PRNGKey(0), width=128, depth=3, input_dim=8, expansion=2))
    wide = leaf_shapes(MLP(jax.random.PRNGKey(0), width=512, depth=3, input_dim=8, expansion=2))
    mults = lr_multipliers(wide, base, embed_lr_mult=10.0)
    assert mults["embed_DxI"] == 10.0  # fan-in fixed at the input dimension: base LR x multiplier
    assert mults["w1_NxHxD"] == pytest.approx(128 / 512)
    assert mults["w2_NxDxH"] == pytest.approx((2 * 128) / (2 * 512))
    assert mults["readout_OxD"] == pytest.approx(128 / 512)


def test_lr_tree_uses_reference_width_for_the_no_mup_ablation():
    spec = RunSpec(task="t", study="s", width=256, depth=2, input_dim=4, steps=10, batch_size=8, seeds=(0,))
    params = eqx.filter(MLP(jax.random.PRNGKey(0), width=256, depth=2, input_dim=4), eqx.is_array)
    own = _lr_tree(spec, params)
    frozen = _lr_tree(RunSpec(**{**spec.__dict__, "lr_reference_width": 64}), params)
    assert own.w1_NxHxD == pytest.approx(0.5) and frozen.w1_NxHxD == pytest.approx(2.0)
    assert own.embed_DxI == frozen.embed_DxI == 1.0


def test_forward_shape_and_residual_multiplier():
    model = MLP(jax.random.PRNGKey(0), width=16, depth=4, input_dim=8)
    assert model.residual_mult == pytest.approx(6 / 4)
    assert model(jnp.zeros((5, 8))).shape == (5,)
