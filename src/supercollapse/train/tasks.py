"""Task adapters of the training engine: what a task's model, batches and loss are.

The engine (engine.py) is task-agnostic: it asks an adapter for
- `model(spec, width, key)`: a freshly initialised model (µP init) of the task's kind;
- `train_data`: a pytree of arrays the batches are made from, put on the device once and passed to the
  compiled program as an argument (never baked in as a constant);
- `batch(train_data, key, batch_size)`: the minibatch of one update, a pure function of the counter-based
  key fold_in(seed's data key, t), so a resumed or multi-device run sees exactly the same examples;
- optionally `rows(key, batch_size, n_rows)`: the row indices `batch` takes from the train array, for tasks
  whose batches are rows of it; such a task can be streamed from host memory (engine data_placement);
- `example_loss(model, example)`: the loss of ONE example (no batch axis). The training loss is its mean
  over the batch (jax.vmap), so per-example gradients are jax.vmap(jax.grad(example_loss));
- `eval_data`: a pytree of arrays with a leading example axis; the evaluation loss is the mean of
  `example_loss` over it;
- `tokens_per_example(spec)`: 1 for the regression task, seq_len - 1 predicted tokens for a language model.

Two adapters: `FourierTask` (inputs drawn on the device each step, ½ squared error) and `TokenTask`
(sequences of the tokenized corpus drawn with replacement, next-token cross-entropy in nats).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..data.fourier import FourierTarget
from ..models import mlp, transformer
from ..models.param_count import mlp_params, transformer_params

COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
KINDS = ("fourier_mlp", "transformer")


def _cast(model, compute_dtype):
    """The model on a `compute_dtype` copy of its float32 weights (gradients flow back in float32)."""
    if compute_dtype == jnp.float32:
        return model
    return jax.tree.map(lambda a: a.astype(compute_dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, model)


class FourierTask:
    """The synthetic regression task: y = target(x), x ~ U[-1/2, 1/2]^d fresh every step, loss ½(f(x) - y)²."""

    kind = "fourier_mlp"

    def __init__(self, target: FourierTarget, eval_x: np.ndarray, eval_y: np.ndarray):
        self.target = target
        self.eval_data = (np.asarray(eval_x, dtype=np.float32), np.asarray(eval_y, dtype=np.float32))
        self.train_data = (np.asarray(target.freqs, dtype=np.float32), np.asarray(target.weights, dtype=np.float32),
                           np.asarray(target.phases, dtype=np.float32))
        self.input_dim = target.input_dim

    def check(self, spec) -> None:
        if spec.input_dim != self.input_dim or self.eval_data[0].shape[1] != self.input_dim:
            raise ValueError(f"run input_dim {spec.input_dim} does not match the target's {self.input_dim} or the "
                             f"evaluation inputs' {self.eval_data[0].shape[1]}")

    @staticmethod
    def model(spec, width: int, key: jax.Array) -> mlp.MLP:
        return mlp.MLP(key, width=width, depth=spec.depth, input_dim=spec.input_dim, expansion=spec.expansion)

    @staticmethod
    def params(spec) -> int:
        return mlp_params(spec.width, spec.depth, spec.input_dim, spec.expansion)

    @staticmethod
    def tokens_per_example(spec) -> int:
        return 1

    @staticmethod
    def batch(train_data, key: jax.Array, batch_size: int):
        freqs_KxI, weights_K, phases_K = train_data
        x_BxI = jax.random.uniform(key, (batch_size, freqs_KxI.shape[1]), minval=-0.5, maxval=0.5)
        y_B = (math.sqrt(2.0) * cos_turns(x_BxI @ freqs_KxI.T + phases_K / (2 * jnp.pi))) @ weights_K
        return x_BxI, y_B

    @staticmethod
    def example_loss(model, example, compute_dtype=jnp.float32) -> jax.Array:
        x_I, y = example
        f = _cast(model, compute_dtype)(x_I.astype(compute_dtype)).astype(jnp.float32)
        return 0.5 * (f - y) ** 2

    def fingerprint_arrays(self) -> tuple[np.ndarray, ...]:
        return (self.target.freqs, self.target.weights, self.target.phases, *self.eval_data)


# cos(2 pi s) = sum_n (-1)^n (2 pi s)^2n / (2n)! for |s| <= 1/4 turn: the terms to n = 6 leave < 1e-8.
_COS_TURNS = tuple((-1) ** n * (2 * math.pi) ** (2 * n) / math.factorial(2 * n) for n in range(7))


def cos_turns(t: jax.Array) -> jax.Array:
    """cos(2 pi t), t in turns: reduced to a quarter turn, then a polynomial of multiplies and adds.

    XLA's CPU cosine is not vectorised (about 6 ns a value, measured: most of a Fourier training step at small
    widths); this one is about 25x faster there and, reducing in turns rather than radians, closer to the exact
    cosine of t for large t (1e-7 against jnp.cos(2 pi t)'s 1e-4 at |t| = 300, float32)."""
    r = jnp.abs(t - jnp.round(t))  # in [0, 1/2]
    far = r > 0.25
    s = jnp.where(far, 0.5 - r, r)  # cos(2 pi r) = -cos(2 pi (1/2 - r))
    u = s * s
    p = jnp.asarray(_COS_TURNS[-1], t.dtype)
    for c in _COS_TURNS[-2::-1]:
        p = p * u + c
    return jnp.where(far, -p, p)


@dataclass(frozen=True)
class TokenTask:
    """Next-token prediction on a tokenized corpus (token contract, CONTRACT.md).

    `train_tokens` (N, seq_len) and `eval_tokens` (M, seq_len) integer arrays, one sequence per row; a row r
    gives inputs r[:-1] and targets r[1:]. They are kept as uint8 when every id is below 256 (half the memory
    of uint16 on the device and in a streamed block), else uint16. With `mask_zero_targets`, targets equal to
    0 are left out of the loss (the CIFAR-5M option). Training rows are drawn uniformly with replacement: row
    indices of update t are a pure function of (seed, t) (`rows`), so resume, multi-device and host-streamed
    runs see exactly the same rows.

    The loss of one sequence is the mean cross-entropy (nats) over its predicted positions (its unmasked
    ones with `mask_zero_targets`); batch and evaluation losses are means over sequences. Without masking
    this is the mean over all predicted tokens; with it, every sequence weighs the same however many of its
    targets are masked (a sequence with every target masked contributes 0).
    """

    train_tokens: np.ndarray
    eval_tokens: np.ndarray
    mask_zero_targets: bool = False
    kind = "transformer"

    def __post_init__(self):
        for name in ("train_tokens", "eval_tokens"):
            a = getattr(self, name)
            if a.ndim != 2 or a.shape[1] < 2 or a.shape[0] < 1:
                raise ValueError(f"{name} must be a (sequences >= 1, seq_len >= 2) array, got shape {a.shape}")
            if not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"{name} must hold integer token ids, got dtype {a.dtype}")
        if self.train_tokens.shape[1] != self.eval_tokens.shape[1]:
            raise ValueError(f"train and eval sequences differ in length: {self.train_tokens.shape[1]} vs "
                             f"{self.eval_tokens.shape[1]}")
        lo = min(int(self.train_tokens.min()), int(self.eval_tokens.min()))
        hi = max(int(self.train_tokens.max()), int(self.eval_tokens.max()))
        if lo < 0 or hi > np.iinfo(np.uint16).max:
            raise ValueError(f"token ids must lie in [0, 65535], got [{lo}, {hi}]")
        dtype = np.uint8 if hi < 256 else np.uint16
        for name in ("train_tokens", "eval_tokens"):  # frozen dataclass: the narrowed arrays replace the fields
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=dtype))
        object.__setattr__(self, "max_id", hi)

    @property
    def train_data(self):
        return self.train_tokens

    @property
    def eval_data(self):
        return self.eval_tokens

    def check(self, spec) -> None:
        seq_len = self.train_tokens.shape[1]
        if spec.seq_len != seq_len:
            raise ValueError(f"run seq_len {spec.seq_len} does not match the token arrays' {seq_len}")
        if self.max_id >= spec.vocab_size:
            raise ValueError(f"token id {self.max_id} found, outside the vocabulary of size {spec.vocab_size}")
        if spec.mask_zero_targets != self.mask_zero_targets:
            raise ValueError(f"run mask_zero_targets {spec.mask_zero_targets} does not match the task's "
                             f"{self.mask_zero_targets}")

    @staticmethod
    def model(spec, width: int, key: jax.Array) -> transformer.Transformer:
        return transformer.Transformer(key, width=width, depth=spec.depth, vocab_size=spec.vocab_size,
                                       context=spec.seq_len - 1, expansion=spec.expansion, head_dim=spec.head_dim,
                                       attention=spec.attention)

    @staticmethod
    def params(spec) -> int:
        return transformer_params(spec.width, spec.depth, spec.vocab_size, spec.seq_len - 1, spec.expansion)

    @staticmethod
    def tokens_per_example(spec) -> int:
        return spec.seq_len - 1

    @staticmethod
    def rows(key: jax.Array, batch_size: int, n_rows: int) -> jax.Array:
        return jax.random.randint(key, (batch_size,), 0, n_rows)

    @classmethod
    def batch(cls, train_data, key: jax.Array, batch_size: int):
        return train_data[cls.rows(key, batch_size, train_data.shape[0])]

    def example_loss(self, model, row_S, compute_dtype=jnp.float32) -> jax.Array:
        row_S = row_S.astype(jnp.int32)
        inputs_T, targets_T = row_S[:-1], row_S[1:]
        logits_TxV = _cast(model, compute_dtype)(inputs_T).astype(jnp.float32)
        logp_TxV = jax.nn.log_softmax(logits_TxV, axis=-1)
        nll_T = -jnp.take_along_axis(logp_TxV, targets_T[:, None], axis=-1)[:, 0]
        if not self.mask_zero_targets:
            return jnp.mean(nll_T)
        keep_T = (targets_T != 0).astype(jnp.float32)
        return jnp.sum(nll_T * keep_T) / jnp.maximum(jnp.sum(keep_T), 1.0)

    def fingerprint_arrays(self) -> tuple[np.ndarray, ...]:
        return (self.train_tokens, self.eval_tokens, np.asarray([self.mask_zero_targets]))


ADAPTERS = {"fourier_mlp": FourierTask, "transformer": TokenTask}
