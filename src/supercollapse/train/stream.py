"""Batches streamed from host memory (data_placement "host", engine.py): for corpora too big for a device.

The rows of update t of a seed are the task's counter-based draw `task.rows(fold_in(data_key, t), B, N)`,
the same draw the device path makes inside its program, so both paths train on identical inputs. Here the
draws of a block of updates are computed on the host's CPU backend (threefry is exact integer arithmetic,
the same bits on every backend), the rows gathered from the host array with NumPy, and the block, of shape
(seeds, steps, batch, seq_len), put on the device at once. While the device trains on one block the next is
gathered and sent (at most two blocks on the device): the host work hides behind the device's, and the first
block of the next segment is gathered before the evaluation between segments.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

# Default size of one block of batches on the device (two are held at a time).
BLOCK_BYTES = 256 * 2**20


def block_steps(spec, n_seeds: int, row_bytes: int, budget: int = BLOCK_BYTES) -> int:
    """Updates per block: as many as fit in `budget` bytes (at least 1), never more than the run's updates."""
    return max(1, min(spec.steps, budget // (n_seeds * spec.batch_size * row_bytes)))


class HostStream:
    """The blocks of one group of seeds (`data_keys`, one per seed), each of about `block_bytes` (`block_steps`);
    `run(start, stop, state, lr_tree)` trains updates start .. stop-1 through `run_block` (engine Programs)."""

    def __init__(self, spec, task, data_keys, run_block, mesh=None, block_bytes: int = BLOCK_BYTES):
        self.tokens = np.asarray(task.train_data)
        row_bytes = self.tokens.itemsize * self.tokens.shape[1]
        self.steps = block_steps(spec, len(data_keys), row_bytes, block_bytes)
        self.run_block, self.total = run_block, spec.steps
        try:
            cpu = jax.devices("cpu")[0]
        except RuntimeError:  # JAX_PLATFORMS without cpu: the draws on the device give the same rows
            cpu = jax.local_devices()[0]
        self._cpu_keys = jax.device_put(np.asarray(data_keys), cpu)
        self._cpu = cpu
        n_rows, batch = self.tokens.shape[0], spec.batch_size

        @jax.jit
        def rows(keys, ts):  # (seeds,) keys, (steps,) counters -> (seeds, steps, batch) row indices
            return jax.vmap(lambda k: jax.vmap(lambda t: task.rows(jax.random.fold_in(k, t), batch, n_rows))(ts))(keys)

        self._rows = rows
        sharding = None if mesh is None else NamedSharding(mesh, P(None, None, "data", None))
        self._put = (lambda a: jax.device_put(a)) if sharding is None else (lambda a: jax.device_put(a, sharding))
        self._ahead = None  # (start, block on the device) gathered ahead of the next segment

    def _block(self, start: int):
        """The block of updates start .. start + steps - 1 (counters past the run's end are drawn too and never
        used: every block has one shape, so the training program compiles once)."""
        ts = jax.device_put(np.arange(start, start + self.steps, dtype=np.int32), self._cpu)
        idx = np.asarray(self._rows(self._cpu_keys, ts))
        return self._put(self.tokens[idx])

    def run(self, start: int, stop: int, state, lr_tree):
        block = self._ahead[1] if self._ahead is not None and self._ahead[0] == start else self._block(start)
        self._ahead = None
        a = start
        while a < stop:
            b = min(a + self.steps, stop)
            state = self.run_block(((jnp.int32(a), jnp.int32(b)), block), state, lr_tree)
            if b < self.total:
                nxt = self._block(b)  # gathered and sent while the device trains on [a, b)
                jax.block_until_ready(state)  # then [a, b) is done with its block: two blocks at most
                if b < stop:
                    block = nxt
                else:
                    self._ahead = (b, nxt)
            a = b
        return state
