import numpy as np
import pytest

from supercollapse.train.eval_grid import eval_steps
from supercollapse.train.schedules import schedule_values


@pytest.mark.parametrize("name,shape", [
    ("const", lambda u: np.ones_like(u)),
    ("linear", lambda u: 1 - u),
    ("cosine", lambda u: 0.5 * (1 + np.cos(np.pi * u))),
    ("multicosine", lambda u: 0.5 * (1 + np.cos(3 * np.pi * u))),
    ("quadratic", lambda u: 1 - u**2),
])
def test_shapes_match_closed_forms(name, shape):
    s = schedule_values(name, steps=100, warmup_steps=0, decay_frac=1.0)
    u = np.arange(1, 101) / 100
    np.testing.assert_allclose(s, shape(u), atol=1e-12)
    if name != "const":
        assert s[-1] == pytest.approx(0.0, abs=1e-12)


def test_warmup_then_partial_decay():
    s = schedule_values("linear", steps=120, warmup_steps=20, decay_frac=0.5)
    np.testing.assert_allclose(s[:20], np.arange(1, 21) / 20)
    np.testing.assert_allclose(s[20:70], 1.0)  # flat for the first half of the 100 post-warmup steps
    np.testing.assert_allclose(s[70:], 1 - np.arange(1, 51) / 50)


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        schedule_values("step", 10)
    with pytest.raises(ValueError, match="warmup_steps"):
        schedule_values("linear", 10, warmup_steps=10)
    with pytest.raises(ValueError, match="decay_frac"):
        schedule_values("linear", 10, decay_frac=1.5)


def test_eval_grid_union_of_linear_and_geometric():
    steps = eval_steps(10_000, 100)
    assert steps[0] == 0 and steps[-1] == 10_000
    assert np.all(np.diff(steps) > 0)
    assert {1, 2, 3}.issubset(set(steps.tolist()))  # geometric part resolves the start
    assert 40 <= steps.size <= 100
