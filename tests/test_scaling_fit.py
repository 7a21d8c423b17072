import numpy as np
import pytest

from supercollapse.analysis.scaling_fit import PFLOP, _huber, fit_power_law

# Compute-optimal end points from the paper's released logs (DESIGN §5): C* in PFLOP, seed-mean L*.
PAPER = {
    "cifar5m": ([440.5, 772.8, 1261, 1947, 2875, 5659, 10059, 16582],
                [3.18076, 3.17532, 3.17201, 3.16853, 3.16627, 3.16191, 3.15886, 3.15656], (0.154, 0.191, 3.132)),
    "chess": ([171.0, 317.7, 543.8, 873.8, 1336, 2787, 5193, 8905],
              [0.72398, 0.71132, 0.70089, 0.69275, 0.68570, 0.67403, 0.66473, 0.65737], (0.328, 0.115, 0.542)),
    "mlp": ([1.210, 3.910, 10.03, 25.65, 66.09, 169.6, 435.0, 1118],
            [0.04303, 0.03561, 0.03069, 0.02662, 0.02316, 0.02013, 0.01746, 0.01514], (0.043, 0.159, 0.0012)),
}


def _objective(c_pf, loss, l_hat, a, b, delta=1e-3):
    return float(np.sum(_huber(np.log(l_hat + a * np.asarray(c_pf) ** -b) - np.log(loss), delta)))


@pytest.mark.parametrize("task", ["chess", "mlp"])
def test_reproduces_the_papers_fits(task):
    c, loss, (a, b, l_hat) = PAPER[task]
    fit = fit_power_law(np.array(c) * PFLOP, loss)
    assert fit.a == pytest.approx(a, abs=0.005)
    assert fit.b == pytest.approx(b, abs=0.005)
    assert fit.l_hat == pytest.approx(l_hat, abs=0.002)


def test_cifar5m_fit_is_at_least_as_good_as_the_papers():
    """On CIFAR-5M the objective is nearly flat along a ridge in (L_hat, b): the exact minimiser of the
    stated objective on these (rounded) end points has b = 0.197, not the paper's 0.191 (see README).
    We assert the paper's a and L_hat, and that our optimum is no worse than the paper's parameters."""
    c, loss, (a, b, l_hat) = PAPER["cifar5m"]
    fit = fit_power_law(np.array(c) * PFLOP, loss)
    assert fit.a == pytest.approx(a, abs=0.005)
    assert fit.l_hat == pytest.approx(l_hat, abs=0.002)
    assert fit.b == pytest.approx(b, abs=0.01)
    assert _objective(c, loss, fit.l_hat, fit.a, fit.b) <= _objective(c, loss, l_hat, a, b)


def test_recovers_a_noisy_synthetic_power_law():
    rng = np.random.default_rng(0)
    c = np.geomspace(1e12, 1e16, 12)
    truth = dict(l_hat=0.8, a=0.5, b=0.25)
    loss = truth["l_hat"] + truth["a"] * (c / PFLOP) ** -truth["b"]
    fit = fit_power_law(c, loss * np.exp(rng.normal(0, 2e-3, c.size)))
    assert fit.l_hat == pytest.approx(0.8, abs=0.03)
    assert fit.b == pytest.approx(0.25, abs=0.03)
    assert fit.a == pytest.approx(0.5, rel=0.1)
    np.testing.assert_allclose(fit.predict(c), loss, rtol=5e-3)


def test_bad_input():
    with pytest.raises(ValueError, match=">= 3"):
        fit_power_law([1.0, 2.0], [1.0, 0.5])
    with pytest.raises(ValueError, match="positive"):
        fit_power_law([1.0, 2.0, 3.0], [1.0, -0.5, 0.2])


def test_a_known_entropy_floor_bounds_lhat_from_below():
    """The offline chess corpus knows its entropy rate: L_hat may not go below it. A floor under the true
    L_hat leaves the fit alone; one above it holds L_hat on the bound."""
    c = np.geomspace(1e16, 1e19, 8)
    loss = 0.5 + 0.3 * (c / 1e15) ** -0.2
    free = fit_power_law(c, loss)
    assert fit_power_law(c, loss, l_hat_min=0.3).l_hat == pytest.approx(free.l_hat, abs=1e-6)
    assert free.l_hat == pytest.approx(0.5, abs=1e-3)
    assert fit_power_law(c, loss, l_hat_min=0.52).l_hat == pytest.approx(0.52, abs=1e-9)  # min loss 0.548
    with pytest.raises(ValueError, match="lower bound of L_hat"):
        fit_power_law(c, loss, l_hat_min=float(loss.min()))
