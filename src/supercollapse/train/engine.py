"""Training engine for the Fourier MLP task: all seeds of one width in one compiled program.

Seeds are batched with `jax.vmap` (or run one after another, `seed_batching="sequential"`; which is faster
depends on the device). Between two evaluation points the updates run inside one jitted `fori_loop`
whose bounds are traced, so a run compiles once and the host is visited only at evaluation points.
Inputs are drawn on the device from a counter-based stream: the batch of update t of seed w is a pure
function of (w, t), fresh every step, never reused, and identical on rerun.

A job can checkpoint at evaluation points (`checkpoint.py`) and resume from there: since the segments
between evaluation points and the input stream are the same, a resumed run writes the same curves as an
uninterrupted one (bit-identical on a CPU). With `devices > 1` each seed's batch is split over the local
devices (data parallel: parameters replicated, gradients all-reduced by XLA's SPMD partitioner); the input
stream is partitionable, so every device count sees the same inputs and only summation order differs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pyarrow as pa
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from ..data.fourier import FourierTarget
from ..models.mlp import MLP, count_params
from ..models.mup import leaf_shapes, lr_multipliers
from ..schemas import CURVES
from . import checkpoint as ckpt
from .eval_grid import eval_steps as make_eval_steps
from .schedules import schedule_values

log = logging.getLogger("supercollapse.train")

COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one training job (one width, several seeds)."""

    task: str
    study: str
    width: int
    depth: int
    input_dim: int
    steps: int
    batch_size: int
    seeds: tuple[int, ...]
    schedule: str = "linear"
    decay_frac: float = 1.0
    warmup_steps: int = 0
    lr: float = 1e-3
    embed_lr_mult: float = 1.0
    b1: float = 0.9
    b2: float = 0.95
    eps: float = 1e-20
    expansion: int = 1
    base_width: int = 128
    lr_reference_width: int | None = None  # None: µP at the run's own width
    n_evals: int = 100
    seed_batching: str = "vmap"  # or "sequential"
    compute_dtype: str = "float32"  # or "bfloat16": forward and backward in bf16, float32 master weights and Adam

    def __post_init__(self):
        if self.compute_dtype not in COMPUTE_DTYPES:
            raise ValueError(f"compute_dtype must be one of {sorted(COMPUTE_DTYPES)}, got {self.compute_dtype!r}")

    @property
    def params(self) -> int:
        return count_params(self.width, self.depth, self.input_dim, self.expansion)


def _model(spec: RunSpec, width: int, key: jax.Array) -> MLP:
    return MLP(key, width=width, depth=spec.depth, input_dim=spec.input_dim, expansion=spec.expansion)


def _lr_tree(spec: RunSpec, params: MLP) -> MLP:
    """A pytree shaped like one model holding each array's µP LR multiplier."""
    def shapes_at(width: int) -> dict[str, tuple[int, ...]]:
        return leaf_shapes(eqx.filter_eval_shape(_model, spec, width, jax.random.PRNGKey(0)))

    reference = spec.width if spec.lr_reference_width is None else spec.lr_reference_width
    mults = lr_multipliers(shapes_at(reference), shapes_at(spec.base_width), spec.embed_lr_mult)
    return jax.tree_util.tree_map_with_path(lambda path, _: mults[path[-1].name], params)


def _target_fn(target: FourierTarget):
    freqs_KxI = jnp.asarray(target.freqs, dtype=jnp.float32)
    weights_K = jnp.asarray(target.weights, dtype=jnp.float32)
    phases_K = jnp.asarray(target.phases, dtype=jnp.float32)

    def target_fn(x_BxI):
        return (math.sqrt(2.0) * jnp.cos(2 * jnp.pi * (x_BxI @ freqs_KxI.T) + phases_K)) @ weights_K

    return target_fn


def _half_mse(model: MLP, x_BxI, y_B, compute_dtype=jnp.float32):
    """½ mean squared error. In a low-precision `compute_dtype` the model runs on a cast copy of the float32
    weights (so gradients and updates stay float32) and the error is reduced in float32."""
    if compute_dtype != jnp.float32:
        model = jax.tree.map(lambda a: a.astype(compute_dtype), model)
        return 0.5 * jnp.mean((model(x_BxI.astype(compute_dtype)).astype(jnp.float32) - y_B) ** 2)
    return 0.5 * jnp.mean((model(x_BxI) - y_B) ** 2)


def build_programs(spec: RunSpec, target: FourierTarget, schedule: np.ndarray, mesh=None):
    """(init, step, run_segment, evaluate); `step` is one vmapped update (for the benchmark's baseline)."""
    adam = optax.scale_by_adam(b1=spec.b1, b2=spec.b2, eps=spec.eps)
    compute_dtype = COMPUTE_DTYPES[spec.compute_dtype]
    sched = jnp.asarray(schedule, dtype=jnp.float32)
    target_fn = _target_fn(target)

    def init_one(seed_key):
        model = _model(spec, spec.width, jax.random.fold_in(seed_key, 0))
        params = eqx.filter(model, eqx.is_array)
        return params, adam.init(params), jax.random.fold_in(seed_key, 1)

    def update_one(t, params, opt_state, data_key, lr_tree):
        x_BxI = jax.random.uniform(jax.random.fold_in(data_key, t), (spec.batch_size, spec.input_dim),
                                   minval=-0.5, maxval=0.5)
        if mesh is not None:
            x_BxI = jax.lax.with_sharding_constraint(x_BxI, NamedSharding(mesh, P("data", None)))
        loss, grads = eqx.filter_value_and_grad(_half_mse)(params, x_BxI, target_fn(x_BxI), compute_dtype)
        updates, opt_state = adam.update(grads, opt_state)
        scale = spec.lr * sched[t]
        params = jax.tree.map(lambda p, u, m: p - scale * m * u, params, updates, lr_tree)
        return params, opt_state, loss

    def step(t, carry, lr_tree):
        params, opt_state, keys, _ = carry
        params, opt_state, loss = jax.vmap(update_one, in_axes=(None, 0, 0, 0, None))(
            t, params, opt_state, keys, lr_tree)
        return params, opt_state, keys, loss

    @eqx.filter_jit(donate="all-except-first")
    def run_segment(bounds, state, lr_tree):
        start, stop = bounds
        return jax.lax.fori_loop(start, stop, lambda t, carry: step(t, carry, lr_tree), state)

    @eqx.filter_jit
    def evaluate(params, x_NxI, y_N):
        loss = lambda model, x, y: _half_mse(model, x, y, compute_dtype)  # noqa: E731
        return jax.vmap(loss, in_axes=(0, None, None))(params, x_NxI, y_N)

    return jax.jit(jax.vmap(init_one)), step, run_segment, evaluate


def initial_state(spec: RunSpec, init, seeds: tuple[int, ...]):
    """(state, lr_tree) of a group of seeds: state = (params, Adam state, data keys, last train loss)."""
    params, opt_state, keys = init(jnp.stack([jax.random.PRNGKey(s) for s in seeds]))
    lr_tree = _lr_tree(spec, jax.tree.map(lambda a: a[0], params))
    return (params, opt_state, keys, jnp.full((len(seeds),), jnp.nan, dtype=jnp.float32)), lr_tree


def resolve_devices(devices: int | str) -> int:
    """Number of local devices a job uses: an int, or "all" (every local device)."""
    available = len(jax.local_devices())
    n = available if devices == "all" else devices
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= available:
        raise ValueError(f"devices must be 'all' or an integer in [1, {available}] (local devices on "
                         f"{jax.default_backend()}), got {devices!r}")
    return n


def data_mesh(devices: int, batch_size: int):
    """The 1-D mesh (axis "data") of the first `devices` local devices that a batch is split over; None for 1."""
    if devices == 1:
        return None
    if batch_size % devices:
        raise ValueError(f"batch_size {batch_size} is not divisible by the {devices} devices it is split over")
    # Auto axes: XLA propagates the batch sharding from the inputs and inserts the gradient all-reduce.
    return jax.make_mesh((devices,), ("data",), devices=jax.local_devices()[:devices],
                         axis_types=(jax.sharding.AxisType.Auto,))


def _fingerprint(spec: RunSpec, target: FourierTarget, eval_x: np.ndarray, eval_y: np.ndarray, devices: int,
                 extra_meta: dict | None) -> str:
    """Identity of a run for its checkpoints: spec, code hash, data, device setup and JAX version."""
    digest = hashlib.sha256(json.dumps(
        {"spec": dataclasses.asdict(spec), "code_hash": (extra_meta or {}).get("code_hash"), "devices": devices,
         "platform": jax.default_backend(), "jax": jax.__version__}, sort_keys=True).encode())
    for array in (target.freqs, target.weights, target.phases, eval_x, eval_y):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def train(spec: RunSpec, target: FourierTarget, eval_x: np.ndarray, eval_y: np.ndarray,
          progress_every_s: float = 5.0, extra_meta: dict | None = None,
          checkpoint: ckpt.CheckpointPolicy | None = None, devices: int = 1) -> tuple[pa.Table, dict]:
    """Train every seed of `spec`; return the curves (schema CURVES) and the run's metadata.

    The metadata (spec, timings, device, `extra_meta` such as the code hash) is also stored in the
    table's schema metadata under the key `supercollapse.run`. With `checkpoint`, the state is saved at
    evaluation points and a matching checkpoint found at the start is resumed from; the caller removes it
    (`checkpoint.clear`) once the curves are safely written. `devices` local devices share each batch.
    """
    if spec.seed_batching not in ("vmap", "sequential"):
        raise ValueError(f"seed_batching must be 'vmap' or 'sequential', got {spec.seed_batching!r}")
    groups = [spec.seeds] if spec.seed_batching == "vmap" else [(s,) for s in spec.seeds]
    steps_eval = make_eval_steps(spec.steps, spec.n_evals)
    schedule = schedule_values(spec.schedule, spec.steps, spec.warmup_steps, spec.decay_frac)
    mesh = data_mesh(devices, spec.batch_size)
    init, _, run_segment, evaluate = build_programs(spec, target, schedule, mesh)
    x_eval = jnp.asarray(eval_x, dtype=jnp.float32)
    y_eval = jnp.asarray(eval_y, dtype=jnp.float32)
    if mesh is not None and len(y_eval) % devices == 0:
        x_eval = jax.device_put(x_eval, NamedSharding(mesh, P("data", None)))
        y_eval = jax.device_put(y_eval, NamedSharding(mesh, P("data")))
    # Parameters and optimizer state live replicated on every device of the mesh.
    place = (lambda tree: tree) if mesh is None else (
        lambda tree: jax.device_put(tree, NamedSharding(mesh, P())))
    # eta(t) is the LR of the update applied at step t (of the last update at the final step);
    # tau(t) = sum of the LRs of the t updates applied so far.
    lr_now = spec.lr * schedule[np.minimum(steps_eval, spec.steps - 1)]
    tau = spec.lr * np.concatenate([[0.0], np.cumsum(schedule)])[steps_eval]

    eval_loss = np.full((len(spec.seeds), len(steps_eval)), np.nan)
    train_loss = np.full_like(eval_loss, np.nan)
    done_updates, total_updates = 0, spec.steps * len(groups)
    compile_s = None
    fingerprint = _fingerprint(spec, target, eval_x, eval_y, devices, extra_meta)
    resume = ckpt.load(checkpoint, fingerprint) if checkpoint is not None else None
    # Position of the last evaluation whose results are in eval_loss/train_loss: (group, eval index).
    resume_at, elapsed_before, resumed_from = (0, -1), 0.0, None
    if resume is not None:
        header, arrays = resume
        eval_loss[:], train_loss[:] = arrays["eval_loss"], arrays["train_loss"]
        resume_at = (int(header["group"]), int(header["eval_index"]))
        done_updates, compile_s = int(header["done_updates"]), header["compile_s"]
        elapsed_before = float(header["elapsed_s"])
        resumed_from = {"group": resume_at[0], "step": int(steps_eval[resume_at[1]]),
                        "resumes": int(header.get("resumes", 0)) + 1}
        log.info("resuming width %d from checkpoint %s at seed group %d, step %d (%.0fs of training done)",
                 spec.width, checkpoint.path, resume_at[0], resumed_from["step"], elapsed_before)

    started = time.perf_counter() - elapsed_before
    last_log = last_save = time.perf_counter()
    saved_updates = done_updates
    row = 0
    for g, group in enumerate(groups):
        if g < resume_at[0]:
            row += len(group)
            continue
        state, lr_tree = initial_state(spec, init, group)
        first = 0
        if g == resume_at[0] and resume is not None:
            leaves, treedef = jax.tree.flatten(state)
            saved = [arrays[f"state_{i}"] for i in range(len(leaves))]
            if [(a.shape, a.dtype) for a in saved] != [(a.shape, a.dtype) for a in leaves]:
                raise ValueError(f"checkpoint {checkpoint.path} matches this run's fingerprint but not its state "
                                 "shapes; delete it")
            state = jax.tree.unflatten(treedef, [jnp.asarray(a) for a in saved])
            first = resume_at[1] + 1
        state = place(state)
        prev = int(steps_eval[first - 1]) if first > 0 else 0
        for j in range(first, len(steps_eval)):
            step = int(steps_eval[j])
            if step > prev:
                t0 = time.perf_counter()
                state = run_segment((jnp.int32(prev), jnp.int32(step)), state, lr_tree)
                if compile_s is None:
                    jax.block_until_ready(state)
                    compile_s = time.perf_counter() - t0
                done_updates += step - prev
                prev = step
            losses = np.asarray(evaluate(state[0], x_eval, y_eval), dtype=np.float64)
            eval_loss[row:row + len(group), j] = losses
            train_loss[row:row + len(group), j] = np.asarray(state[3], dtype=np.float64) if step > 0 else np.nan
            now = time.perf_counter()
            last_eval = j == len(steps_eval) - 1 and g == len(groups) - 1
            if done_updates and (now - last_log >= progress_every_s or last_eval):
                rate = done_updates * spec.batch_size * len(group) / (now - started)
                eta = (total_updates - done_updates) * spec.batch_size * len(group) / rate
                log.info("width %d step %d/%d eval_loss %.5g samples/s %.0f ETA %.0fs",
                         spec.width, step, spec.steps, float(np.mean(losses)), rate, eta)
                last_log = now
            due = checkpoint is not None and not last_eval and done_updates > saved_updates and (
                now - last_save >= checkpoint.every_s
                or (checkpoint.every_steps is not None and done_updates - saved_updates >= checkpoint.every_steps))
            if due:
                # np.asarray copies to the host before the next segment donates these buffers.
                host_state = {f"state_{i}": np.asarray(a) for i, a in enumerate(jax.tree.leaves(state))}
                ckpt.save(checkpoint, {
                    "fingerprint": fingerprint, "group": g, "eval_index": j, "step": step,
                    "done_updates": done_updates, "compile_s": compile_s, "elapsed_s": now - started,
                    "resumes": 0 if resumed_from is None else resumed_from["resumes"]},
                    {"eval_loss": eval_loss, "train_loss": train_loss, **host_state})
                last_save, saved_updates = time.perf_counter(), done_updates
        row += len(group)
    wall_s = time.perf_counter() - started

    finite = np.isfinite(eval_loss) & (np.isfinite(train_loss) | np.isnan(train_loss) & (steps_eval == 0))
    diverged = ~finite.all(axis=1)
    for seed, bad in zip(spec.seeds, diverged):
        if bad:
            log.warning("width %d seed %d diverged (non-finite loss); its curve is flagged diverged=True",
                        spec.width, seed)

    n_s, n_e = eval_loss.shape
    tokens = steps_eval * spec.batch_size
    table = pa.Table.from_pydict(
        {
            "task": [spec.task] * (n_s * n_e),
            "study": [spec.study] * (n_s * n_e),
            "width": np.full(n_s * n_e, spec.width, dtype=np.int64),
            "depth": np.full(n_s * n_e, spec.depth, dtype=np.int64),
            "params": np.full(n_s * n_e, spec.params, dtype=np.int64),
            "seed": np.repeat(np.asarray(spec.seeds, dtype=np.int64), n_e),
            "schedule": [spec.schedule] * (n_s * n_e),
            "step": np.tile(steps_eval, n_s),
            "tokens": np.tile(tokens, n_s).astype(np.int64),
            "compute": np.tile(6.0 * spec.params * tokens.astype(np.float64), n_s),
            "lr": np.tile(lr_now, n_s),
            "tau": np.tile(tau, n_s),
            "eval_loss": eval_loss.reshape(-1),
            "train_loss": train_loss.reshape(-1),
            "diverged": np.repeat(diverged, n_e),
        },
        schema=CURVES,
    )
    meta = {
        "spec": dataclasses.asdict(spec),
        "params": spec.params,
        "wall_time_s": wall_s,
        "compile_time_s": compile_s,
        "samples_per_s": spec.steps * spec.batch_size * len(spec.seeds) / wall_s,
        "device": str(jax.devices()[0].device_kind),
        "devices": devices,
        "resumed_from": resumed_from,
        "platform": jax.default_backend(),
        "jax_version": jax.__version__,
        "diverged_seeds": [s for s, bad in zip(spec.seeds, diverged) if bad],
        **(extra_meta or {}),
    }
    return table.replace_schema_metadata({b"supercollapse.run": json.dumps(meta).encode()}), meta
