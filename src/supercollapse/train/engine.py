"""Training engine: all seeds of one width in one compiled program, for any task adapter (tasks.py).

Seeds are batched with `jax.vmap` (or run one after another, `seed_batching="sequential"`; which is faster
depends on the device). Between two evaluation points the updates run inside one jitted `fori_loop`
whose bounds are traced, so a run compiles once and the host is visited only at evaluation points.
Batches are made on the device from a counter-based stream: the batch of update t of seed w is a pure
function of (w, t) (`task.batch(train_data, fold_in(key_w, t), B)`), identical on rerun. The task's data
(the Fourier target's coefficients, or the whole train token array) is put on the device once and passed to
the compiled program as an argument. The loss is written per example (`task.example_loss`) and averaged
over the batch with `jax.vmap`, so per-example gradients are one `jax.vmap(jax.grad(...))` away.

A job can checkpoint at evaluation points (`checkpoint.py`) and resume from there: since the segments
between evaluation points and the input stream are the same, a resumed run writes the same curves as an
uninterrupted one (bit-identical on a CPU). With `devices > 1` each seed's batch is split over the local
devices (data parallel: parameters replicated, gradients all-reduced by XLA's SPMD partitioner); the input
stream is partitionable, so every device count sees the same inputs and only summation order differs.

Data placement (`train(..., data_placement=)`): with "device" the train data lives on every device in full
(token arrays in their narrowest dtype: 1 byte per token for a vocabulary of at most 256, else 2), and an
array larger than half of a device's memory (where the backend reports it) is refused, naming its size.
With "host" (token tasks) it stays in host memory: the rows of each block of updates are chosen by the same
counter-based draws, computed on the host's CPU backend, gathered there with NumPy and put on the device as
one (seeds, steps, batch, seq_len) block, the next block gathered and sent while the device trains on the
current one (stream.py). The inputs are identical, so the curves are too. "auto" (the default) keeps the
data on the device where it fits and streams it otherwise.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pyarrow as pa
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from ..models.mup import leaf_shapes, lr_multipliers
from ..models.transformer import ATTENTION_IMPLEMENTATIONS, check_shape
from ..divergence import DIVERGENCE_FACTOR, divergence_index
from ..schemas import CURVES
from . import checkpoint as ckpt
from . import stream
from .eval_grid import eval_steps as make_eval_steps
from .noise_trace import noise_trace
from .schedules import schedule_values
from .tasks import ADAPTERS, COMPUTE_DTYPES, KINDS

log = logging.getLogger("supercollapse.train")

# Train data larger than this fraction of a device's memory is not put on the device (the model needs the rest).
MAX_DATA_FRACTION = 0.5
DATA_PLACEMENTS = ("auto", "device", "host")


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one training job (one width, several seeds)."""

    task: str
    study: str
    width: int
    depth: int
    steps: int
    batch_size: int
    seeds: tuple[int, ...]
    kind: str = "fourier_mlp"  # or "transformer" (tasks.KINDS)
    input_dim: int = 0  # fourier_mlp: input dimension
    vocab_size: int = 0  # transformer: vocabulary size
    seq_len: int = 0  # transformer: tokens per row (the model sees seq_len - 1)
    head_dim: int = 64  # transformer: attention head dimension
    attention: str = "xla"  # transformer: "xla" or "cudnn" (jax.nn.dot_product_attention), or "chunked"
    mask_zero_targets: bool = False  # transformer: leave targets equal to 0 out of the loss
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
    # > 0: log Tr(P^-1 Sigma) (noise_trace.py) at every evaluation after step 0, from the per-example gradients of the
    # first `noise_examples` evaluation examples, `noise_chunk` at a time (memory: chunk x parameters per seed).
    noise_examples: int = 0
    noise_chunk: int = 256

    def __post_init__(self):
        if self.compute_dtype not in COMPUTE_DTYPES:
            raise ValueError(f"compute_dtype must be one of {sorted(COMPUTE_DTYPES)}, got {self.compute_dtype!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "fourier_mlp" and self.input_dim < 1:
            raise ValueError(f"a fourier_mlp run needs input_dim >= 1, got {self.input_dim}")
        if self.kind == "transformer":
            if self.vocab_size < 2 or self.seq_len < 2:
                raise ValueError(f"a transformer run needs vocab_size >= 2 and seq_len >= 2, got {self.vocab_size} "
                                 f"and {self.seq_len}")
            check_shape(self.width, self.head_dim)
            check_shape(self.base_width, self.head_dim)
            if self.lr_reference_width is not None:
                check_shape(self.lr_reference_width, self.head_dim)
            if self.attention not in ATTENTION_IMPLEMENTATIONS:
                raise ValueError(f"attention must be one of {ATTENTION_IMPLEMENTATIONS}, got {self.attention!r}")

    @property
    def params(self) -> int:
        return ADAPTERS[self.kind].params(self)

    @property
    def tokens_per_example(self) -> int:
        return ADAPTERS[self.kind].tokens_per_example(self)


def _model(spec: RunSpec, width: int, key: jax.Array):
    return ADAPTERS[spec.kind].model(spec, width, key)


def _lr_tree(spec: RunSpec, params):
    """A pytree shaped like one model holding each array's µP LR multiplier."""
    def shapes_at(width: int) -> dict[str, tuple[int, ...]]:
        return leaf_shapes(eqx.filter_eval_shape(_model, spec, width, jax.random.PRNGKey(0)))

    reference = spec.width if spec.lr_reference_width is None else spec.lr_reference_width
    mults = lr_multipliers(shapes_at(reference), shapes_at(spec.base_width), spec.embed_lr_mult)
    return jax.tree_util.tree_map_with_path(lambda path, _: mults[path[-1].name], params)


class Programs(NamedTuple):
    """The compiled pieces of one run (all seeds of a group vmapped; `mesh` shards each batch).

    init(seed_keys) -> (params, Adam state, data keys) of every seed;
    step(t, state, lr_tree, train_data) -> state after update t (one vmapped update; the benchmark's
        per-step baseline);
    run_segment((start, stop), state, lr_tree) -> state after updates start .. stop-1, inside one jitted
        fori_loop with traced bounds (one compilation per run), `state` donated (data on the device);
    run_block(((start, stop), block), state, lr_tree) -> the same from a host-made block of batches
        (leaves (seeds, steps, ...); update t takes step t - start), `state` donated;
    evaluate(params) -> (seeds,) mean `example_loss` over the task's evaluation data;
    example_loss(model, example): the task's loss of one example in the run's compute dtype;
    train_data: the task's train data on the device(s) (None with data_placement "host");
    noise(params, Adam state, lr_tree) -> (seeds,) Tr(P^-1 Sigma) (None unless spec.noise_examples > 0).
    """

    init: Callable
    step: Callable
    run_segment: Callable
    evaluate: Callable
    example_loss: Callable
    train_data: object
    noise: Callable | None = None
    run_block: Callable | None = None


def _batch_sharding(mesh, leaf) -> NamedSharding:
    return NamedSharding(mesh, P("data", *([None] * (leaf.ndim - 1))))


def build_programs(spec: RunSpec, task, schedule: np.ndarray, mesh=None, data_placement: str = "device") -> Programs:
    """The run's programs for `task` (a tasks.py adapter of the spec's kind); with `data_placement` "host"
    the train data is not put on the device and batches come in blocks (`run_block`)."""
    adam = optax.scale_by_adam(b1=spec.b1, b2=spec.b2, eps=spec.eps)
    sched = jnp.asarray(schedule, dtype=jnp.float32)
    example_loss = functools.partial(task.example_loss, compute_dtype=COMPUTE_DTYPES[spec.compute_dtype])

    def batch_loss(params, batch):
        return jnp.mean(jax.vmap(example_loss, in_axes=(None, 0))(params, batch))

    def init_one(seed_key):
        model = _model(spec, spec.width, jax.random.fold_in(seed_key, 0))
        params = eqx.filter(model, eqx.is_array)
        return params, adam.init(params), jax.random.fold_in(seed_key, 1)

    def update_one(t, params, opt_state, batch, lr_tree):
        if mesh is not None:
            batch = jax.tree.map(lambda a: jax.lax.with_sharding_constraint(a, _batch_sharding(mesh, a)), batch)
        loss, grads = eqx.filter_value_and_grad(batch_loss)(params, batch)
        updates, opt_state = adam.update(grads, opt_state)
        scale = spec.lr * sched[t]
        params = jax.tree.map(lambda p, u, m: p - scale * m * u, params, updates, lr_tree)
        return params, opt_state, loss

    def update_all(t, carry, lr_tree, batches):
        params, opt_state, keys, _ = carry
        params, opt_state, loss = jax.vmap(update_one, in_axes=(None, 0, 0, 0, None))(
            t, params, opt_state, batches, lr_tree)
        return params, opt_state, keys, loss

    def step(t, carry, lr_tree, train_data):
        batches = jax.vmap(lambda key: task.batch(train_data, jax.random.fold_in(key, t), spec.batch_size))(carry[2])
        return update_all(t, carry, lr_tree, batches)

    # The first argument (bounds and train data, or bounds and block) is not donated: the train data is
    # reused by every segment, and a block is the stream's to free.
    @eqx.filter_jit(donate="all-except-first")
    def segment(bounds_and_data, state, lr_tree):
        (start, stop), train_data = bounds_and_data
        return jax.lax.fori_loop(start, stop, lambda t, carry: step(t, carry, lr_tree, train_data), state)

    @eqx.filter_jit(donate="all-except-first")
    def segment_block(bounds_and_block, state, lr_tree):
        (start, stop), block = bounds_and_block

        def body(t, carry):
            batches = jax.tree.map(lambda a: jax.lax.dynamic_index_in_dim(a, t - start, axis=1, keepdims=False),
                                   block)
            return update_all(t, carry, lr_tree, batches)

        return jax.lax.fori_loop(start, stop, body, state)

    replicate = (lambda tree: jax.device_put(tree)) if mesh is None else (
        lambda tree: jax.device_put(tree, NamedSharding(mesh, P())))
    if data_placement not in ("device", "host"):
        raise ValueError(f"build_programs: data_placement must be 'device' or 'host', got {data_placement!r}")
    train_data = replicate(task.train_data) if data_placement == "device" else None

    # Evaluation in chunks of at most one batch (its memory is known to fit): full chunks under a scan,
    # the remainder after it; each chunk split over the mesh when it divides evenly.
    eval_data = jax.tree.map(np.asarray, task.eval_data)
    n_eval = len(jax.tree.leaves(eval_data)[0])
    chunk = min(n_eval, spec.batch_size)
    n_full = n_eval // chunk
    main = jax.tree.map(lambda a: a[:n_full * chunk].reshape((n_full, chunk) + a.shape[1:]), eval_data)
    rest = jax.tree.map(lambda a: a[n_full * chunk:], eval_data)
    if mesh is not None and chunk % mesh.size == 0:
        main = jax.tree.map(lambda a: jax.device_put(a, NamedSharding(mesh, P(None, "data", *([None] * (a.ndim - 2))))),
                            main)
    else:
        main = replicate(main)
    rest = replicate(rest)

    @eqx.filter_jit
    def evaluate_all(params, main, rest):
        def total_loss(p):
            per_chunk = lambda acc, c: (acc + jnp.sum(jax.vmap(example_loss, in_axes=(None, 0))(p, c)), None)  # noqa: E731
            total, _ = jax.lax.scan(per_chunk, jnp.zeros((), jnp.float32), main)
            if n_eval > n_full * chunk:
                total = total + jnp.sum(jax.vmap(example_loss, in_axes=(None, 0))(p, rest))
            return total / n_eval

        return jax.vmap(total_loss)(params)

    noise = None
    if spec.noise_examples > 0:
        # The first examples of the evaluation data: held out, from the training distribution.
        noise_data = replicate(jax.tree.map(lambda a: a[:spec.noise_examples], eval_data))

        @eqx.filter_jit
        def noise_all(params, opt_state, lr_tree, data):
            def one(p, s):  # P^-1 at the peak LR: the base LR (schedule peak 1) times each array's multiplier
                return noise_trace(example_loss, p, s, lr_tree, spec.lr, data, spec.batch_size, spec.b2, spec.eps,
                                   spec.noise_chunk)

            return jax.vmap(one)(params, opt_state)

        noise = lambda params, opt_state, lr_tree: noise_all(params, opt_state, lr_tree, noise_data)  # noqa: E731

    return Programs(
        init=jax.jit(jax.vmap(init_one)), step=step,
        run_segment=lambda bounds, state, lr_tree: segment((bounds, train_data), state, lr_tree),
        evaluate=lambda params: evaluate_all(params, main, rest), example_loss=example_loss, train_data=train_data,
        noise=noise, run_block=segment_block)


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


def _fingerprint(spec: RunSpec, task, devices: int, extra_meta: dict | None, placement: str = "device") -> str:
    """Identity of a run for its checkpoints: spec, code hash, data, device setup and JAX version."""
    digest = hashlib.sha256(json.dumps(
        {"spec": dataclasses.asdict(spec), "code_hash": (extra_meta or {}).get("code_hash"), "devices": devices,
         "platform": jax.default_backend(), "jax": jax.__version__,
         **({"data_placement": placement} if placement != "device" else {})}, sort_keys=True).encode())
    for array in task.fingerprint_arrays():
        digest.update(np.ascontiguousarray(array).data)  # no copy for a contiguous array
    return digest.hexdigest()[:16]


def choose_placement(placement: str, task, fraction: float = MAX_DATA_FRACTION, limit: int | None = None) -> str:
    """Where the train data lives: "device" or "host" (DATA_PLACEMENTS; "auto": the device where the data
    fits in `fraction` of its memory, else the host for a task that can stream). `limit`: the device's bytes
    (default: as its backend reports, None where it does not, e.g. a CPU)."""
    if placement not in DATA_PLACEMENTS:
        raise ValueError(f"data_placement must be one of {DATA_PLACEMENTS}, got {placement!r}")
    nbytes = sum(np.asarray(a).nbytes for a in jax.tree.leaves(task.train_data))
    if limit is None:
        limit = (jax.local_devices()[0].memory_stats() or {}).get("bytes_limit")
    fits = not limit or nbytes <= fraction * limit
    streams = hasattr(task, "rows")
    if placement == "auto":
        placement = "device" if fits or not streams else "host"
        if placement == "host":
            log.info("the train data takes %.2f GB, more than %.0f%% of the device's %.2f GB: streaming it from "
                     "host memory", nbytes / 1e9, 100 * fraction, limit / 1e9)
    if placement == "host" and not streams:
        raise ValueError(f"data_placement 'host' needs a task whose batches are rows of its train data (a "
                         f"transformer task); a {task.kind} task draws its batches on the device")
    if placement == "device" and not fits:
        hint = ("data_placement 'host' or 'auto' streams it from host memory" if streams else
                f"a {task.kind} task draws its batches on the device and cannot be streamed")
        raise ValueError(f"the train data takes {nbytes / 1e9:.2f} GB, more than {fraction:.0%} of the device's "
                         f"{limit / 1e9:.2f} GB, and it would be kept on the device in full ({hint})")
    return placement


@dataclass
class _Progress:
    """A run's results and counters so far: what a checkpoint saves and a resumed run starts from."""

    eval_loss: np.ndarray  # (seeds, evaluation points), NaN where not yet evaluated
    train_loss: np.ndarray  # NaN at step 0 and where not yet evaluated
    noise: np.ndarray  # Tr(P^-1 Sigma), NaN where not measured
    done_updates: int = 0  # over all seed groups
    compile_s: float | None = None  # the first segment's time, compilation included
    elapsed_s: float = 0.0  # seconds trained before this process (a resumed run)
    resumed_from: dict | None = None  # {"group", "step", "resumes"} of a resumed run
    start: tuple[int, int] = (0, 0)  # (seed group, evaluation index) where this process goes on
    saved: dict[str, np.ndarray] | None = None  # the checkpoint's arrays: state_i, the state of group start[0]


def _restore(spec: RunSpec, checkpoint: ckpt.CheckpointPolicy | None, fingerprint: str,
             steps_eval: np.ndarray, state_shapes: Callable[[int], list]) -> _Progress:
    """The progress this run (`fingerprint`) saved in `checkpoint`, or a fresh start where there is none.

    `state_shapes(g)`: the (shape, dtype) of every state leaf of seed group g. A checkpoint whose arrays have
    other shapes than this run's (the fingerprint matched, the contents did not) is discarded with a warning
    naming it, and the run starts from scratch."""
    progress = _Progress(*(np.full((len(spec.seeds), len(steps_eval)), np.nan) for _ in range(3)))
    resume = ckpt.load(checkpoint, fingerprint) if checkpoint is not None else None
    if resume is None:
        return progress
    header, arrays = resume
    curve = (progress.eval_loss.shape, progress.eval_loss.dtype)
    expected = {k: curve for k in ("eval_loss", "train_loss", "noise_trace")}
    expected |= {f"state_{i}": shape for i, shape in enumerate(state_shapes(int(header["group"])))}
    found = {k: (arrays[k].shape, arrays[k].dtype) if k in arrays else None for k in expected}
    if found != expected:
        wrong = {k: found[k] for k in expected if found[k] != expected[k]}
        log.warning("discarding checkpoint %s: it matches this run's fingerprint but not its arrays (%s); starting "
                    "from scratch", checkpoint.path,
                    ", ".join(f"{k} {v[0] if v else 'missing'}, expected {expected[k][0]}" for k, v in wrong.items()))
        ckpt.clear(checkpoint)
        return progress
    progress.eval_loss[:], progress.train_loss[:] = arrays["eval_loss"], arrays["train_loss"]
    progress.noise[:] = arrays["noise_trace"]
    group, eval_index = int(header["group"]), int(header["eval_index"])
    progress.start, progress.saved = (group, eval_index + 1), arrays
    progress.done_updates, progress.compile_s = int(header["done_updates"]), header["compile_s"]
    progress.elapsed_s = float(header["elapsed_s"])
    progress.resumed_from = {"group": group, "step": int(steps_eval[eval_index]),
                             "resumes": int(header.get("resumes", 0)) + 1}
    log.info("resuming width %d from checkpoint %s at seed group %d, step %d (%.0fs of training done)",
             spec.width, checkpoint.path, group, progress.resumed_from["step"], progress.elapsed_s)
    return progress


def _group_state(spec: RunSpec, init, group: tuple[int, ...], mesh, saved: dict | None, checkpoint):
    """(state, lr_tree) of a group of seeds: fresh, or the state in the arrays `saved` from `checkpoint`."""
    state, lr_tree = initial_state(spec, init, group)
    if saved is not None:  # shapes checked by _restore
        leaves, treedef = jax.tree.flatten(state)
        state = jax.tree.unflatten(treedef, [jnp.asarray(saved[f"state_{i}"]) for i in range(len(leaves))])
    # Parameters and optimizer state live replicated on every device of the mesh.
    return (state if mesh is None else jax.device_put(state, NamedSharding(mesh, P()))), lr_tree


def _segment(spec: RunSpec, task, programs: Programs, data_keys, mesh, placement: str, block_bytes: int) -> Callable:
    """segment(start, stop, state, lr_tree): a group's updates start .. stop-1, data on the device or streamed."""
    if placement == "host":
        return stream.HostStream(spec, task, np.asarray(data_keys), programs.run_block, mesh, block_bytes).run
    return lambda start, stop, state, lr_tree: programs.run_segment((jnp.int32(start), jnp.int32(stop)), state, lr_tree)


def _evaluations(spec: RunSpec, task, programs: Programs, groups: list[tuple[int, ...]], steps_eval: np.ndarray,
                 progress: _Progress, mesh, placement: str, block_bytes: int, checkpoint) -> Iterator[tuple]:
    """Train from `progress.start`, recording each evaluation in `progress`; yield (g, j, step, state, losses)."""
    row = 0
    for g, group in enumerate(groups):
        rows, row = slice(row, row + len(group)), row + len(group)
        if g < progress.start[0]:
            continue
        resumed = g == progress.start[0]
        state, lr_tree = _group_state(spec, programs.init, group, mesh, progress.saved if resumed else None,
                                      checkpoint)
        segment = _segment(spec, task, programs, state[2], mesh, placement, block_bytes)
        first = progress.start[1] if resumed else 0
        prev = int(steps_eval[first - 1]) if first > 0 else 0
        for j in range(first, len(steps_eval)):
            step = int(steps_eval[j])
            if step > prev:
                t0 = time.perf_counter()
                state = segment(prev, step, state, lr_tree)
                if progress.compile_s is None:
                    jax.block_until_ready(state)
                    progress.compile_s = time.perf_counter() - t0
                progress.done_updates += step - prev
                prev = step
            losses = np.asarray(programs.evaluate(state[0]), dtype=np.float64)
            progress.eval_loss[rows, j] = losses
            progress.train_loss[rows, j] = np.asarray(state[3], dtype=np.float64) if step > 0 else np.nan
            if programs.noise is not None and step > 0:
                progress.noise[rows, j] = np.asarray(programs.noise(state[0], state[1], lr_tree), np.float64)
            yield g, j, step, state, losses


def _checkpoint_due(policy: ckpt.CheckpointPolicy | None, last_eval: bool, new_updates: int,
                    since_save_s: float) -> bool:
    """Whether to save here: not at the run's last evaluation nor without new updates; else per the policy."""
    return policy is not None and not last_eval and new_updates > 0 and (
        since_save_s >= policy.every_s or (policy.every_steps is not None and new_updates >= policy.every_steps))


def _save(policy: ckpt.CheckpointPolicy, fingerprint: str, progress: _Progress, g: int, j: int, step: int,
          elapsed_s: float, state) -> None:
    """Checkpoint the run at evaluation point j of seed group g: the curves so far and the group's state."""
    # np.asarray copies to the host before the next segment donates these buffers.
    host_state = {f"state_{i}": np.asarray(a) for i, a in enumerate(jax.tree.leaves(state))}
    ckpt.save(policy, {
        "fingerprint": fingerprint, "group": g, "eval_index": j, "step": step,
        "done_updates": progress.done_updates, "compile_s": progress.compile_s, "elapsed_s": elapsed_s,
        "resumes": 0 if progress.resumed_from is None else progress.resumed_from["resumes"]},
        {"eval_loss": progress.eval_loss, "train_loss": progress.train_loss, "noise_trace": progress.noise,
         **host_state})


def _log_progress(spec: RunSpec, step: int, losses: np.ndarray, done_updates: int, total_updates: int,
                  elapsed_s: float) -> None:
    """Log the mean eval loss of a group of seeds (`losses`) at `step`, the run's throughput and its ETA."""
    rate = done_updates * spec.batch_size * len(losses) / elapsed_s
    eta = (total_updates - done_updates) * spec.batch_size * len(losses) / rate
    log.info("width %d step %d/%d eval_loss %.5g samples/s %.0f tokens/s %.0f ETA %.0fs",
             spec.width, step, spec.steps, float(np.mean(losses)), rate, rate * spec.tokens_per_example, eta)


def _diverged(eval_loss: np.ndarray, train_loss: np.ndarray) -> np.ndarray:
    """(seeds,) True where a seed's run diverged (divergence.py: a non-finite loss, or a loss that ends above
    DIVERGENCE_FACTOR x its initial one and stays there)."""
    return np.array([divergence_index(e, t) is not None for e, t in zip(eval_loss, train_loss)], dtype=bool)


def _curves_table(spec: RunSpec, steps_eval: np.ndarray, schedule: np.ndarray, progress: _Progress,
                  diverged: np.ndarray) -> pa.Table:
    """The run's curves (schema CURVES): one row per seed and evaluation point."""
    # eta(t) is the LR of the update applied at step t (of the last update at the final step);
    # tau(t) = sum of the LRs of the t updates applied so far.
    lr_now = spec.lr * schedule[np.minimum(steps_eval, spec.steps - 1)]
    tau = spec.lr * np.concatenate([[0.0], np.cumsum(schedule)])[steps_eval]
    n_s, n_e = progress.eval_loss.shape
    tokens = steps_eval * spec.batch_size * spec.tokens_per_example
    return pa.Table.from_pydict(
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
            "eval_loss": progress.eval_loss.reshape(-1),
            "train_loss": progress.train_loss.reshape(-1),
            "noise_trace": progress.noise.reshape(-1),
            "diverged": np.repeat(diverged, n_e),
        },
        schema=CURVES,
    )


def _run_meta(spec: RunSpec, progress: _Progress, wall_s: float, devices: int, placement: str,
              diverged: np.ndarray, extra_meta: dict | None) -> dict:
    """The run's metadata: spec, timings, throughput, device setup, resume, divergence, then `extra_meta`."""
    return {
        "spec": dataclasses.asdict(spec),
        "params": spec.params,
        "wall_time_s": wall_s,
        "compile_time_s": progress.compile_s,
        "samples_per_s": spec.steps * spec.batch_size * len(spec.seeds) / wall_s,
        "tokens_per_s": spec.steps * spec.batch_size * spec.tokens_per_example * len(spec.seeds) / wall_s,
        "device": str(jax.devices()[0].device_kind),
        "devices": devices,
        "data_placement": placement,
        "resumed_from": progress.resumed_from,
        "platform": jax.default_backend(),
        "jax_version": jax.__version__,
        "diverged_seeds": [s for s, bad in zip(spec.seeds, diverged) if bad],
        **(extra_meta or {}),
    }


def train(spec: RunSpec, task, progress_every_s: float = 5.0, extra_meta: dict | None = None,
          checkpoint: ckpt.CheckpointPolicy | None = None, devices: int = 1, data_placement: str = "auto",
          block_bytes: int = stream.BLOCK_BYTES) -> tuple[pa.Table, dict]:
    """Train every seed of `spec` on `task` (a tasks.py adapter of the spec's kind); return the curves
    (schema CURVES) and the run's metadata.

    The metadata (spec, timings, device, `extra_meta` such as the code hash) is also stored in the
    table's schema metadata under the key `supercollapse.run`. With `checkpoint`, the state is saved at
    evaluation points and a matching checkpoint found at the start is resumed from; the caller removes it
    (`checkpoint.clear`) once the curves are safely written. `devices` local devices share each batch.
    `data_placement`: where the train data lives (DATA_PLACEMENTS, `choose_placement`); streamed from the
    host, batches go to the device in blocks of about `block_bytes` (stream.py).
    """
    if spec.seed_batching not in ("vmap", "sequential"):
        raise ValueError(f"seed_batching must be 'vmap' or 'sequential', got {spec.seed_batching!r}")
    if not isinstance(task, ADAPTERS[spec.kind]):
        raise TypeError(f"a {spec.kind} run needs a {ADAPTERS[spec.kind].__name__}, got {type(task).__name__}")
    task.check(spec)
    placement = choose_placement(data_placement, task)
    groups = [spec.seeds] if spec.seed_batching == "vmap" else [(s,) for s in spec.seeds]
    steps_eval = make_eval_steps(spec.steps, spec.n_evals)
    schedule = schedule_values(spec.schedule, spec.steps, spec.warmup_steps, spec.decay_frac)
    mesh = data_mesh(devices, spec.batch_size)
    programs = build_programs(spec, task, schedule, mesh, placement)
    # The placement is part of a run's identity: its program differs, so its rounding may (not on a CPU).
    fingerprint = _fingerprint(spec, task, devices, extra_meta, placement)
    progress = _restore(spec, checkpoint, fingerprint, steps_eval, lambda g: [
        (leaf.shape, np.dtype(leaf.dtype)) for leaf in jax.tree.leaves(
            jax.eval_shape(lambda: initial_state(spec, programs.init, groups[g])[0]))])
    started = time.perf_counter() - progress.elapsed_s
    last_log = last_save = time.perf_counter()
    saved_updates = progress.done_updates
    for g, j, step, state, losses in _evaluations(spec, task, programs, groups, steps_eval, progress, mesh,
                                                  placement, block_bytes, checkpoint):
        now = time.perf_counter()
        last_eval = (g, j) == (len(groups) - 1, len(steps_eval) - 1)
        if progress.done_updates and (now - last_log >= progress_every_s or last_eval):
            _log_progress(spec, step, losses, progress.done_updates, spec.steps * len(groups), now - started)
            last_log = now
        if _checkpoint_due(checkpoint, last_eval, progress.done_updates - saved_updates, now - last_save):
            _save(checkpoint, fingerprint, progress, g, j, step, now - started, state)
            last_save, saved_updates = time.perf_counter(), progress.done_updates
    wall_s = time.perf_counter() - started
    diverged = _diverged(progress.eval_loss, progress.train_loss)
    for seed, bad in zip(spec.seeds, diverged):
        if bad:
            log.warning("width %d seed %d diverged (a non-finite loss, or one above %g x its initial value to "
                        "the end); its curve is flagged diverged=True", spec.width, seed, DIVERGENCE_FACTOR)
    table = _curves_table(spec, steps_eval, schedule, progress, diverged)
    meta = _run_meta(spec, progress, wall_s, devices, placement, diverged, extra_meta)
    return table.replace_schema_metadata({b"supercollapse.run": json.dumps(meta).encode()}), meta
