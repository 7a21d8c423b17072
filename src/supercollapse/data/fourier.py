"""The paper's synthetic regression task: a power-law Fourier-feature target on [-1/2, 1/2]^d.

y(x) = sum_n w_n sqrt(2) cos(2 pi k_n . x + phi_n), with integer frequency vectors k_n whose norms follow
a Pareto law (tail exponent `pareto_exponent`), isotropic directions, weights w ~ N(0, I) normalized to unit
norm and phases phi_n in {0, pi/2}. For distinct nonzero k the features are orthonormal under
x ~ U[-1/2, 1/2]^d, so E[y^2] = 1 and the loss of the zero predictor is 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FourierTarget:
    """The fixed target function: `freqs` (n_modes, d) int, `weights` (n_modes,), `phases` (n_modes,)."""

    freqs: np.ndarray
    weights: np.ndarray
    phases: np.ndarray

    @property
    def input_dim(self) -> int:
        return int(self.freqs.shape[1])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Target values at inputs `x` of shape (..., d), as a NumPy float64 array."""
        angles = 2.0 * np.pi * (x @ self.freqs.T.astype(np.float64)) + self.phases
        return (np.sqrt(2.0) * np.cos(angles)) @ self.weights


def make_target(n_modes: int, input_dim: int, pareto_exponent: float, seed: int) -> FourierTarget:
    """Draw the target function. Frequencies that round to the zero vector are redrawn."""
    if n_modes < 1 or input_dim < 1:
        raise ValueError(f"n_modes and input_dim must be >= 1, got {n_modes}, {input_dim}")
    rng = np.random.default_rng(seed)
    freqs = np.zeros((n_modes, input_dim), dtype=np.int64)
    todo = np.arange(n_modes)
    while todo.size:
        # Pareto with scale 1 and tail exponent alpha: P(|k| > r) = r^-alpha for r >= 1.
        norms = (1.0 - rng.random(todo.size)) ** (-1.0 / pareto_exponent)
        directions = rng.standard_normal((todo.size, input_dim))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        freqs[todo] = np.rint(norms[:, None] * directions).astype(np.int64)
        todo = todo[~freqs[todo].any(axis=1)]
    weights = rng.standard_normal(n_modes)
    weights /= np.linalg.norm(weights)
    phases = rng.integers(0, 2, n_modes) * (np.pi / 2.0)
    return FourierTarget(freqs=freqs, weights=weights, phases=phases)


def sample_inputs(rng: np.random.Generator, n: int, input_dim: int) -> np.ndarray:
    return rng.random((n, input_dim)) - 0.5
