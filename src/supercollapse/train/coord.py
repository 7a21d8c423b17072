"""The µP coordinate check: do activation scales stay put as the model gets wider?

Under µP (models/mup.py) a few steps of training move every layer's activations by an amount that does not
depend on width; under a standard parametrisation (one LR for every width) the updates of the hidden and
readout layers grow with width, and so do the activations after them. The check trains each width a few
steps with the engine's own update (task adapter, µP LR tree, Adam, constant LR) and records, at every step
from the initial model on, the root-mean-square of every layer's output on fixed held-out rows
(`Transformer.activations`): the embedding sum, each block's attention and MLP branches (before the
residual multiplier) and the residual stream after the block, and the logits.

`width_slopes` summarises a check: per layer, the least-squares slope of log RMS against log width at a
step; width-independent activations give slopes near 0, activations growing like width give slopes near 1.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa

from ..schemas import COORD_CHECK
from .engine import RunSpec, build_programs, initial_state
from .schedules import schedule_values
from .tasks import TokenTask

SITES = ("embed", "attn", "mlp", "residual", "logits")


def _rms(a) -> jax.Array:
    return jnp.sqrt(jnp.mean(jnp.square(a.astype(jnp.float32))))


@eqx.filter_jit
def _activation_rms(model, inputs_BxT):
    acts = jax.vmap(model.activations)(inputs_BxT)
    out = {site: _rms(acts[site]) for site in ("embed", "logits")}
    for site in ("attn", "mlp", "residual"):  # (B, depth, T, D): one RMS per block
        out[site] = jax.vmap(_rms, in_axes=1)(acts[site])
    return out


def activation_rms(model, probe_BxS) -> dict[str, np.ndarray]:
    """RMS over probe rows and positions of each site's activations: `embed` and `logits` scalars, the
    block sites (depth,) arrays."""
    out = _activation_rms(model, jnp.asarray(probe_BxS[:, :-1], dtype=jnp.int32))
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def coord_check(spec: RunSpec, task: TokenTask, widths, steps: int, probe_BxS: np.ndarray) -> pa.Table:
    """Activation RMS of every layer at steps 0..`steps` for each width (schema COORD_CHECK).

    `spec` gives everything but the width, the run length and the schedule: each width trains one seed
    (spec.seeds[0]) at spec's base LR, constant, no warmup, with its own µP multipliers (or spec's
    lr_reference_width, to show what happens without µP)."""
    if spec.kind != "transformer":
        raise ValueError(f"the coordinate check needs a transformer run, got kind {spec.kind!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    rows = {name: [] for name in COORD_CHECK.names}
    for width in sorted(int(w) for w in widths):
        run = dataclasses.replace(spec, width=width, steps=steps, seeds=spec.seeds[:1], schedule="const",
                                  warmup_steps=0, seed_batching="vmap", noise_examples=0)
        programs = build_programs(run, task, schedule_values("const", steps), mesh=None)
        state, lr_tree = initial_state(run, programs.init, run.seeds)
        step = jax.jit(lambda t, s, d, lr_tree=lr_tree: programs.step(t, s, lr_tree, d))
        for t in range(steps + 1):
            model = jax.tree.map(lambda a: a[0], state[0])  # the one seed
            for site, values in activation_rms(model, probe_BxS).items():
                for block, value in (enumerate(values) if values.ndim else [(-1, values)]):
                    rows["width"].append(width)
                    rows["params"].append(run.params)
                    rows["step"].append(t)
                    rows["site"].append(site)
                    rows["block"].append(int(block))
                    rows["rms"].append(float(value))
                    rows["lr_reference_width"].append(spec.lr_reference_width)
            if t < steps:
                state = step(jnp.int32(t), state, programs.train_data)
    return pa.Table.from_pydict(rows, schema=COORD_CHECK)


def width_slopes(table: pa.Table, step: int) -> dict[str, float]:
    """Per layer ("embed", "attn.0", ..., "logits"): slope of log RMS against log width at `step`."""
    df = table.to_pandas()
    df = df[df["step"] == step]
    if df.empty:
        raise ValueError(f"no rows at step {step}")
    slopes = {}
    for (site, block), g in df.groupby(["site", "block"], sort=False):
        name = site if block < 0 else f"{site}.{block}"
        slopes[name] = float(np.polyfit(np.log(g["width"]), np.log(g["rms"]), 1)[0])
    return slopes
