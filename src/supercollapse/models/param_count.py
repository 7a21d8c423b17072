"""Parameter counts of the models (every parameter, embeddings included), without building them.

Pure arithmetic, no JAX: the run plan (plan.py) sizes jobs with these when the workflow builds its DAG.
"""

from __future__ import annotations


def mlp_params(width: int, depth: int, input_dim: int, expansion: int = 1, output_dim: int = 1) -> int:
    """The Fourier MLP: input layer, 2 * depth block matrices, readout."""
    return width * input_dim + depth * 2 * expansion * width * width + output_dim * width


def transformer_params(width: int, depth: int, vocab_size: int, context: int, expansion: int = 1) -> int:
    """P = 2 V D + L D + depth (4 + 2e) D^2 (token embedding and readout, positions, q/k/v/output projections
    and the two MLP matrices of each block), with L = `context`."""
    return 2 * vocab_size * width + context * width + depth * (4 + 2 * expansion) * width * width
