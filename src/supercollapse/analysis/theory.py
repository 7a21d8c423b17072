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


def theory_stage(cfg: dict, out_path) -> None:
    """Normalized curves of the configured power-law surface at gamma_scale * gamma* (schema THEORY)."""
    import pyarrow as pa

    from ..io import write_table
    from ..schemas import THEORY

    terms = [PowerLawTerm(float(t["a"]), float(t["mu"]), float(t["nu"])) for t in cfg["terms"]]
    try:
        gamma_star = collapse_gamma(terms)
    except ValueError as err:
        raise ValueError(f"theory.terms: {err}") from None
    x = np.geomspace(float(cfg["x_min"]), 1.0, int(cfg["n_x"]))
    params = np.geomspace(float(cfg["params_min"]), float(cfg["params_max"]), int(cfg["n_widths"]))
    cols: dict[str, list] = {name: [] for name in THEORY.names}
    for scale in cfg["gamma_scales"]:
        ell = normalized_theory_curves(x, params, terms, float(scale) * gamma_star)
        for p, row in zip(params, ell):
            cols["gamma_scale"] += [float(scale)] * x.size
            cols["gamma"] += [float(scale) * gamma_star] * x.size
            cols["params"] += [float(p)] * x.size
            cols["x"] += x.tolist()
            cols["ell"] += row.tolist()
    write_table(out_path, pa.Table.from_pydict(cols, schema=THEORY))
