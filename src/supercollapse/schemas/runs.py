"""The contracts of the data and training artifacts: what the data stages and the training jobs write (hashed with
the training code, codehash.py: a change here reruns training, a change in results.py does not)."""

from __future__ import annotations

import pyarrow as pa

# One row per (seed, evaluation step) of one training job (a width in a sweep or a study).
CURVES = pa.schema(
    [
        ("task", pa.string()),
        ("study", pa.string()),  # "sweep" for the constant-LR frontier runs, else the study name
        ("width", pa.int64()),
        ("depth", pa.int64()),
        ("params", pa.int64()),  # every parameter, embeddings included
        ("seed", pa.int64()),
        ("schedule", pa.string()),
        ("step", pa.int64()),  # number of optimizer updates applied before this evaluation
        ("tokens", pa.int64()),  # samples (MLP) or tokens seen: step * batch tokens
        ("compute", pa.float64()),  # FLOPs = 6 * params * tokens
        ("lr", pa.float64()),  # base LR times the schedule at this step (the paper's eta(t))
        ("tau", pa.float64()),  # intrinsic time: sum of lr over the updates applied so far
        ("eval_loss", pa.float64()),
        ("train_loss", pa.float64()),  # minibatch loss of the last update before this evaluation (NaN at step 0)
        ("noise_trace", pa.float64()),  # Tr(P^-1 Sigma) (train/noise_trace.py); NaN where not measured (RunSpec.noise_examples)
        ("diverged", pa.bool_()),  # this seed's run diverged (divergence.py: non-finite, or blown up to the end)
    ]
)

# The µP coordinate check (train/coord.py): RMS of one layer's activations, one row per (width, step, layer).
COORD_CHECK = pa.schema(
    [
        ("width", pa.int64()),
        ("params", pa.int64()),
        ("step", pa.int64()),  # updates applied before the measurement (0: the initial model)
        ("site", pa.string()),  # embed, attn, mlp, residual (after the block), logits
        ("block", pa.int64()),  # block index for attn/mlp/residual, -1 for embed and logits
        ("rms", pa.float64()),  # sqrt(mean of squares) over the probe rows, positions and features
        ("lr_reference_width", pa.int64()),  # null: µP; a width: that width's LRs used at every width
    ]
)

# The Fourier task (make_task): one row per mode of the target function, and one per evaluation input.
FOURIER_TARGET = pa.schema([("freq", pa.list_(pa.int64())), ("weight", pa.float64()), ("phase", pa.float64())])
FOURIER_EVAL = pa.schema([("x", pa.list_(pa.float32())), ("y", pa.float64())])

# Token sequences of a transformer task (train.parquet / test.parquet): one row per sequence of `seq_len`
# token ids; a row r gives inputs r[:-1] and targets r[1:]. uint16 holds every vocabulary we use (chess
# characters, 256 grey levels). A function of seq_len because the list size is part of the Arrow type.
TOKENS_COLUMN = "tokens"


def TOKENS(seq_len: int) -> pa.Schema:  # noqa: N802 (named like the other schemas)
    if int(seq_len) < 2:
        raise ValueError(f"token sequences need seq_len >= 2 (one input and one target), got {seq_len}")
    return pa.schema([(TOKENS_COLUMN, pa.list_(pa.uint16(), int(seq_len)))])
