import numpy as np
import pytest

from supercollapse.analysis.theory import (PowerLawTerm, collapse_gamma, loss_surface,
                                           normalized_theory_curves)

# Chinchilla-like surface: a time term, a size term and a mixed term, all with gamma mu + nu = 0.6 at gamma 1.
TERMS = [PowerLawTerm(2.0, 0.3, 0.3), PowerLawTerm(1.0, 0.6, 0.0), PowerLawTerm(3.0, 0.0, 0.6)]
X = np.geomspace(0.01, 1.0, 60)
P = np.geomspace(1e3, 1e6, 7)


def test_collapse_gamma_equalises_the_exponents():
    assert collapse_gamma(TERMS) == pytest.approx(1.0)
    assert collapse_gamma([PowerLawTerm(1, 0.5, 0), PowerLawTerm(1, 0, 0.34)]) == pytest.approx(0.68)
    with pytest.raises(ValueError, match="no single gamma"):
        collapse_gamma([*TERMS, PowerLawTerm(1.0, 0.2, 0.1)])
    with pytest.raises(ValueError, match="same time exponent"):
        collapse_gamma([PowerLawTerm(1, 0.5, 0.1), PowerLawTerm(1, 0.5, 0.2)])


def test_loss_surface_closed_form():
    assert loss_surface(4.0, 9.0, [PowerLawTerm(2.0, 0.5, 0.5)]) == pytest.approx(2.0 / 6.0)


def test_exact_collapse_at_gamma_star():
    ell = normalized_theory_curves(X, P, TERMS, collapse_gamma(TERMS), c=7.0)
    assert np.allclose(ell[:, -1], 1.0)
    assert np.max(np.ptp(ell, axis=0)) < 1e-12 * np.max(ell)


@pytest.mark.parametrize("scale", [0.9, 1.1])
def test_monotone_fan_out_away_from_gamma_star(scale):
    g = collapse_gamma(TERMS)
    ell = normalized_theory_curves(X, P, TERMS, scale * g)
    inner = X < 0.999  # at x = 1 every curve is 1
    diffs = np.diff(ell[:, inner], axis=0)  # ordered by width
    # Too short horizons for wide models (gamma < gamma*) leave them further from their end: ell grows with p;
    # too long ones (gamma > gamma*) make ell shrink with p. Strictly, at every x < 1.
    assert (diffs > 0).all() if scale < 1 else (diffs < 0).all()
    assert np.ptp(ell[:, inner], axis=0).min() > 1e-4
