"""Exact scaling collapse of a sum of power laws (the paper's theory check).

Loss surface L(t, p) = sum_i a_i t^(-mu_i) p^(-nu_i) (reducible part; t steps, p parameters) trained to
horizons t*(p) = c p^gamma. With x = t / t*(p) (= C / C* at a fixed batch size),

    ell(x, p) = L(x t*(p), p) / L(t*(p), p)
              = sum_i a_i c^(-mu_i) x^(-mu_i) p^(-e_i) / sum_i a_i c^(-mu_i) p^(-e_i),   e_i = gamma mu_i + nu_i.

The p-dependence cancels for every x iff all e_i are equal: the curves collapse exactly at that gamma
(gamma* = (nu_j - nu_i) / (mu_i - mu_j) for any two terms with mu_i != mu_j) and fan out otherwise, the
term with the smallest e_i taking over as p grows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PowerLawTerm:
    a: float  # coefficient
    mu: float  # exponent of steps t
    nu: float  # exponent of parameters p


def loss_surface(t: np.ndarray, p: np.ndarray, terms: list[PowerLawTerm]) -> np.ndarray:
    """L(t, p) = sum_i a_i t^-mu_i p^-nu_i, broadcast over t and p."""
    t, p = np.asarray(t, dtype=np.float64), np.asarray(p, dtype=np.float64)
    return sum(term.a * t ** -term.mu * p ** -term.nu for term in terms)


def collapse_gamma(terms: list[PowerLawTerm]) -> float:
    """The horizon exponent gamma at which gamma mu_i + nu_i is the same for every term.

    Raises ValueError when no single gamma exists (the surface never collapses exactly).
    """
    if len(terms) < 2:
        raise ValueError("need at least 2 terms for a collapse exponent")
    mus = np.array([t.mu for t in terms])
    nus = np.array([t.nu for t in terms])
    i, j = int(np.argmax(mus)), int(np.argmin(mus))
    if mus[i] == mus[j]:
        raise ValueError("all terms have the same time exponent mu: no horizon exponent equalises them")
    gamma = (nus[j] - nus[i]) / (mus[i] - mus[j])
    exponents = gamma * mus + nus
    if not np.allclose(exponents, exponents[0], rtol=1e-9, atol=1e-12):
        raise ValueError(f"no single gamma equalises gamma*mu_i + nu_i for these terms (at gamma = {gamma:.6g} "
                         f"they are {exponents.tolist()})")
    return float(gamma)


def normalized_theory_curves(x: np.ndarray, params: np.ndarray, terms: list[PowerLawTerm], gamma: float,
                             c: float = 1.0) -> np.ndarray:
    """ell[p, x] = L(x t*(p), p) / L(t*(p), p) with t*(p) = c p^gamma."""
    x = np.asarray(x, dtype=np.float64)
    params = np.asarray(params, dtype=np.float64)
    horizon = c * params**gamma
    loss = loss_surface(x[None, :] * horizon[:, None], params[:, None], terms)
    end = loss_surface(horizon, params, terms)
    return loss / end[:, None]


@dataclass(frozen=True)
class TheoryCurves:
    """Normalized curves of one surface at several horizon exponents."""

    gamma_star: float  # the exact-collapse exponent
    gamma_scales: tuple[float, ...]  # horizon exponent / gamma_star of each set of curves
    params: np.ndarray  # parameter counts
    x: np.ndarray  # t / t*(p)
    ell: np.ndarray  # [gamma_scale, params, x]

    def to_table(self):
        """Schema THEORY, one row per (gamma_scale, params, x) (pyarrow imported here: rules/common.smk
        imports this module while Snakemake parses the workflow)."""
        import pyarrow as pa

        from ..schemas import THEORY

        cols: dict[str, list] = {name: [] for name in THEORY.names}
        for scale, curves in zip(self.gamma_scales, self.ell):
            for p, row in zip(self.params, curves):
                cols["gamma_scale"] += [scale] * self.x.size
                cols["gamma"] += [scale * self.gamma_star] * self.x.size
                cols["params"] += [float(p)] * self.x.size
                cols["x"] += self.x.tolist()
                cols["ell"] += row.tolist()
        return pa.Table.from_pydict(cols, schema=THEORY)


def theory_curves(terms: list[PowerLawTerm], gamma_scales: list[float], x_min: float, n_x: int, params_min: float,
                  params_max: float, n_widths: int) -> TheoryCurves:
    """Normalized curves at each gamma_scale * gamma*: `n_x` log-spaced x in [x_min, 1] for `n_widths`
    log-spaced parameter counts in [params_min, params_max]."""
    gamma_star = collapse_gamma(terms)
    scales = tuple(float(scale) for scale in gamma_scales)
    x = np.geomspace(float(x_min), 1.0, int(n_x))
    params = np.geomspace(float(params_min), float(params_max), int(n_widths))
    ell = np.stack([normalized_theory_curves(x, params, terms, scale * gamma_star) for scale in scales])
    return TheoryCurves(gamma_star=gamma_star, gamma_scales=scales, params=params, x=x, ell=ell)
