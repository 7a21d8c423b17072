"""µP per-parameter learning rates (DESIGN §3).

Every array gets base_lr * (its fan-in at the base width / its fan-in): matrices whose fan-in grows with
width get LR proportional to base_width / fan_in; embeddings keep the base LR, times the embedding
multiplier. An embedding's fan-in is fixed whatever its storage: the MLP's input layer (D x input_dim) and
the transformer's token and position tables (V x D, L x D, looked up by row: a one-hot input of size V or
L). This mirrors the paper's code, which builds the base-width model and divides shapes. For the no-µP ablation, `reference_width` computes the multipliers at a fixed width and
uses them for every width.
"""

from __future__ import annotations

import jax

# Array names (fields of the models) that are embeddings -> the axis holding their fan-in: the MLP's input
# layer (out x in), the transformer's token and position tables (one row per token / position).
EMBEDDING_FAN_IN_AXIS = {"embed_DxI": -1, "embed_VxD": 0, "pos_embed_LxD": 0}
EMBEDDING_LEAVES = tuple(EMBEDDING_FAN_IN_AXIS)


def fan_in(name: str, shape: tuple[int, ...]) -> int:
    """The input dimension of a weight array: its last axis (weights are stored out x in); for an embedding
    table stored one row per token or position, its first axis."""
    return int(shape[EMBEDDING_FAN_IN_AXIS.get(name, -1)])


def lr_multipliers(shapes: dict[str, tuple[int, ...]], base_shapes: dict[str, tuple[int, ...]],
                   embed_lr_mult: float = 1.0) -> dict[str, float]:
    """LR multiplier of every named array: base fan-in / fan-in (times `embed_lr_mult` for embeddings)."""
    mults = {}
    for name, shape in shapes.items():
        mult = fan_in(name, base_shapes[name]) / fan_in(name, shape)
        if name in EMBEDDING_LEAVES:
            mult *= embed_lr_mult
        mults[name] = float(mult)
    return mults


def leaf_shapes(module) -> dict[str, tuple[int, ...]]:
    """Shapes of the array fields of an Equinox module, by field name."""
    return {name: tuple(value.shape) for name, value in vars(module).items()
            if isinstance(value, (jax.Array, jax.ShapeDtypeStruct))}
