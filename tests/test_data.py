import numpy as np
import pytest

from supercollapse.data.fourier import make_target, sample_inputs
from supercollapse.stages.fourier_task import make_fourier_task, read_fourier_task
from supercollapse.io import read_json


def test_target_is_normalized_and_on_the_lattice():
    t = make_target(500, 8, 2.0, seed=3)
    assert t.freqs.dtype == np.int64 and t.freqs.any(axis=1).all()  # no zero frequency
    assert np.linalg.norm(t.weights) == pytest.approx(1.0)
    assert set(np.unique(t.phases)) <= {0.0, np.pi / 2}
    x = sample_inputs(np.random.default_rng(0), 20000, 8)
    # Orthonormal features: E[y^2] = sum w^2 = 1 up to duplicated frequencies and sampling noise.
    assert np.mean(t(x) ** 2) == pytest.approx(1.0, abs=0.15)


def test_frequency_norms_follow_the_pareto_tail():
    t = make_target(20000, 8, 2.0, seed=0)
    norms = np.linalg.norm(t.freqs, axis=1)
    # P(|k| > r) ~ r^-2 for large r (rounding perturbs small norms only).
    assert np.mean(norms > 8) == pytest.approx(8.0**-2, rel=0.25)


def test_data_stage_round_trip(tmp_path):
    cfg = {"input_dim": 4, "n_modes": 64, "pareto_exponent": 2.0, "eval_size": 128, "seed": 5}
    paths = [tmp_path / "target.parquet", tmp_path / "eval.parquet", tmp_path / "meta.json"]
    make_fourier_task(cfg, *paths)
    target, x, y = read_fourier_task(paths[0], paths[1])
    np.testing.assert_allclose(target(x.astype(np.float64)), y)
    meta = read_json(paths[2])
    assert meta["n_modes"] == 64 and meta["eval_size"] == 128
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.parquet", "meta.json", "target.parquet"]


def test_load_reports_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="target.parquet"):
        read_fourier_task(tmp_path / "target.parquet", tmp_path / "eval.parquet")


def test_cos_turns_is_the_cosine_of_turns():
    """The Fourier batches' cosine (train/tasks.py): within 2e-7 of cos(2 pi t) computed in float64."""
    import jax
    import jax.numpy as jnp

    from supercollapse.train.tasks import cos_turns

    t = np.concatenate([np.random.default_rng(0).uniform(-300, 300, 100_000),
                        np.arange(-8, 8.01, 0.125)]).astype(np.float32)  # quarter turns and their neighbours
    exact = np.cos(2 * np.pi * t.astype(np.float64))
    assert np.abs(np.asarray(jax.jit(cos_turns)(jnp.asarray(t))) - exact).max() < 2e-7
