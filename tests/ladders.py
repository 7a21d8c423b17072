"""Synthetic scaling ladders with a known truth, written as the external-runs contract (CSV), for the tests.

Chinchilla form L(P, D) = L0 + A P^-alpha + B D^-beta with D = tokens seen and compute C = 6 P D. At fixed C the
optimum has D*(P) proportional to P^(alpha / beta), so the horizons are C*(P) = (P / kappa)^(1 + gamma) with
gamma = alpha / beta, and the end losses of compute-optimal runs follow L0 + a C*^-b exactly: L_hat = L0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Ladder:
    l0: float = 0.5
    a: float = 40.0
    alpha: float = 0.34
    b: float = 400.0
    beta: float = 0.28
    tokens_per_step: int = 1024
    noise: float = 1e-3  # relative noise of each evaluation, independent per seed and step

    @property
    def gamma(self) -> float:
        return self.alpha / self.beta

    def loss(self, params: float, tokens: np.ndarray) -> np.ndarray:
        return self.l0 + self.a * params ** -self.alpha + self.b * tokens ** -self.beta

    def optimal_tokens(self, params: float) -> float:
        """argmin over P of L at fixed C = 6 P D: alpha A P^-alpha = beta B D^-beta."""
        return (self.beta * self.b / (self.alpha * self.a) * params ** self.alpha) ** (1.0 / self.beta)

    def runs(self, widths, params, steps, seeds: int, rng: np.random.Generator, n_evals: int = 60) -> pl.DataFrame:
        """The contract table of one role: width w trained for steps[i] updates, evaluated on a log grid."""
        rows = []
        for width, p, n in zip(widths, params, steps):
            grid = np.unique(np.geomspace(1, n, n_evals).round().astype(np.int64))
            tokens = grid * self.tokens_per_step
            clean = self.loss(p, tokens.astype(np.float64))
            for seed in range(seeds):
                loss = clean * (1.0 + self.noise * rng.standard_normal(grid.size))
                rows.append(pl.DataFrame({"width": width, "params": p, "seed": seed, "step": grid,
                                          "compute": 6.0 * p * tokens, "loss": loss, "tokens": tokens}))
        return pl.concat(rows)

    def optimal_steps(self, params) -> list[int]:
        return [int(round(self.optimal_tokens(p) / self.tokens_per_step)) for p in params]


def ladder_params(widths) -> list[int]:
    """A parameter count per width, growing like width^2 (an MLP's hidden layers)."""
    return [int(12 * w * w + 100 * w) for w in widths]
