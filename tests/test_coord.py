"""The µP coordinate check: activation scales stay width-independent under µP and grow without it."""

from __future__ import annotations

import numpy as np
import pytest

from supercollapse.schemas import COORD_CHECK, check_table
from supercollapse.train.coord import coord_check, width_slopes
from supercollapse.train.engine import RunSpec
from supercollapse.train.tasks import TokenTask

V, S, STEPS = 11, 33, 5
WIDTHS = (32, 64, 128, 256)  # from 4 heads of 8: at 2 heads finite-width effects still show


def _tokens(n, seed):
    """Rows of a learnable process: x_{t+1} = (x_t + 1 or + 2) mod V."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(1, 3, size=(n, S - 1))
    start = rng.integers(0, V, size=(n, 1))
    return (np.concatenate([start, start + np.cumsum(steps, axis=1)], axis=1) % V).astype(np.uint16)


def _check(lr_reference_width):
    task = TokenTask(_tokens(512, 0), _tokens(32, 1))
    spec = RunSpec(task="t", study="coord", width=16, depth=2, steps=1, batch_size=16, seeds=(0,),
                   kind="transformer", vocab_size=V, seq_len=S, head_dim=8, base_width=16, lr=0.01,
                   embed_lr_mult=10.0, lr_reference_width=lr_reference_width)
    return coord_check(spec, task, WIDTHS, STEPS, task.eval_tokens[:16])


@pytest.fixture(scope="module")
def mup():
    return _check(None)


def test_table_follows_the_schema_and_starts_at_the_init(mup):
    check_table(mup, COORD_CHECK)
    df = mup.to_pandas()
    assert sorted(df.width.unique()) == list(WIDTHS) and sorted(df.step.unique()) == list(range(STEPS + 1))
    at0 = df[df.step == 0]
    # Zero-initialised branches and readout: nothing but the embeddings is nonzero at step 0.
    assert (at0[at0.site.isin(["attn", "mlp", "logits"])].rms == 0).all()
    np.testing.assert_allclose(at0[at0.site == "embed"].rms, 0.1 * np.sqrt(2), rtol=0.15)  # token + position


def test_mup_keeps_activation_scales_width_independent(mup):
    for step in range(2, STEPS + 1):  # from step 2 every layer has moved (step 1: the readout only)
        slopes = width_slopes(mup, step)
        # 0.35: finite width still shows at these sizes (the attention branch's first nonzero update shrinks
        # slightly from 4 to 32 heads, slope about -0.3 at step 2); without µP slopes reach 0.7-1.4.
        assert max(abs(s) for s in slopes.values()) < 0.35, (step, slopes)


def test_without_mup_the_scales_grow_with_width():
    # One LR for every width (the base width's multipliers of 1): the check must see it.
    slopes = width_slopes(_check(16), STEPS)
    assert slopes["logits"] > 0.5 and min(slopes[f"residual.{b}"] for b in (0, 1)) > 0.5, slopes
