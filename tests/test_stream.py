"""Training data streamed from host memory (data_placement "host") gives the on-device curves bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from supercollapse.train import checkpoint as ckpt
from supercollapse.train import stream
from supercollapse.train.engine import RunSpec, choose_placement, train
from supercollapse.train.tasks import FourierTask, TokenTask

SPEC = dict(task="chess", study="test", width=16, depth=2, steps=45, batch_size=8, seeds=(0, 1), kind="transformer",
            vocab_size=11, seq_len=17, head_dim=8, base_width=16, warmup_steps=3, lr=0.01, embed_lr_mult=10.0,
            n_evals=7)
ROW_BYTES = 17  # uint8 tokens: 11 ids


def _task(n_rows: int = 300) -> TokenTask:
    rng = np.random.default_rng(0)
    return TokenTask(rng.integers(0, 11, (n_rows, 17)), rng.integers(0, 11, (40, 17)))


def _curves(table):
    return {c: table.column(c).to_numpy() for c in ("step", "seed", "eval_loss", "train_loss")}


@pytest.fixture(scope="module")
def reference():
    """The on-device run of SPEC (vmapped seeds)."""
    table, meta = train(RunSpec(**SPEC), _task(), data_placement="device")
    assert meta["data_placement"] == "device"
    return _curves(table)


@pytest.mark.parametrize("steps_per_block", [4, 45])
def test_streamed_blocks_give_the_on_device_curves(reference, steps_per_block):
    # 4 updates per block: blocks straddle the evaluation points (steps 0, 1, 2, 4, ...). 45: one block per run.
    block_bytes = steps_per_block * len(SPEC["seeds"]) * SPEC["batch_size"] * ROW_BYTES
    table, meta = train(RunSpec(**SPEC), _task(), data_placement="host", block_bytes=block_bytes)
    assert meta["data_placement"] == "host"
    for column, values in _curves(table).items():
        np.testing.assert_array_equal(values, reference[column], err_msg=column)


def test_streamed_sequential_seeds_give_the_on_device_curves():
    spec = RunSpec(**{**SPEC, "seed_batching": "sequential", "steps": 20})
    device, _ = train(spec, _task(), data_placement="device")
    host, _ = train(spec, _task(), data_placement="host", block_bytes=3 * SPEC["batch_size"] * ROW_BYTES)
    for column, values in _curves(host).items():
        np.testing.assert_array_equal(values, _curves(device)[column], err_msg=column)


def test_streamed_run_resumes_from_a_checkpoint(tmp_path, reference):
    policy = ckpt.CheckpointPolicy(tmp_path / ".checkpoints" / "w16", every_s=1e9, every_steps=20)
    block_bytes = 6 * len(SPEC["seeds"]) * SPEC["batch_size"] * ROW_BYTES
    train(RunSpec(**SPEC), _task(), checkpoint=policy, data_placement="host", block_bytes=block_bytes)
    header = json.loads(np.load(policy.path)["__header__"].tobytes().decode())
    assert 0 < header["step"] < SPEC["steps"]
    table, meta = train(RunSpec(**SPEC), _task(), checkpoint=policy, data_placement="host", block_bytes=block_bytes)
    assert meta["resumed_from"]["step"] == header["step"]
    for column, values in _curves(table).items():
        np.testing.assert_array_equal(values, reference[column], err_msg=column)
    # A checkpoint of the streamed run is not resumed on the device: another program, maybe other rounding.
    table, meta = train(RunSpec(**SPEC), _task(), checkpoint=policy, data_placement="device")
    assert meta["resumed_from"] is None


def test_auto_placement_streams_only_what_does_not_fit():
    task = _task()  # 300 rows x 17 bytes = 5,100 bytes
    assert choose_placement("auto", task, limit=None) == "device"  # the backend reports no memory (a CPU)
    assert choose_placement("auto", task, limit=20_000) == "device"
    assert choose_placement("auto", task, limit=10_000) == "host"
    assert choose_placement("host", task, limit=None) == "host"
    with pytest.raises(ValueError, match=r"more than 50% of the device's .*data_placement 'host' or 'auto' streams it"):
        choose_placement("device", task, limit=10_000)
    with pytest.raises(ValueError, match="data_placement must be one of"):
        choose_placement("disk", task)


def test_a_task_that_draws_batches_on_the_device_is_not_streamed():
    from supercollapse.data.fourier import make_target, sample_inputs

    target = make_target(8, 2, 2.0, seed=0)
    x = sample_inputs(np.random.default_rng(1), 16, 2).astype(np.float32)
    task = FourierTask(target, x, target(x.astype(np.float64)))
    with pytest.raises(ValueError, match="data_placement 'host' needs a task whose batches are rows"):
        choose_placement("host", task)
    assert choose_placement("auto", task, limit=None) == "device"
    with pytest.raises(ValueError, match="draws its batches on the device and cannot be streamed"):  # auto neither
        choose_placement("auto", task, limit=1)


def test_block_length_follows_the_byte_budget():
    spec = RunSpec(**SPEC)
    per_step = 2 * SPEC["batch_size"] * ROW_BYTES
    assert stream.block_steps(spec, 2, ROW_BYTES, budget=10 * per_step) == 10
    assert stream.block_steps(spec, 2, ROW_BYTES, budget=per_step - 1) == 1  # at least one update
    assert stream.block_steps(spec, 2, ROW_BYTES, budget=10**12) == SPEC["steps"]  # never past the run


def test_token_arrays_take_the_narrowest_dtype():
    small = TokenTask(np.array([[0, 255, 3]]), np.array([[1, 2, 3]], dtype=np.uint16))
    assert small.train_tokens.dtype == small.eval_tokens.dtype == np.uint8
    wide = TokenTask(np.array([[0, 256, 3]], dtype=np.uint16), np.array([[1, 2, 3]]))
    assert wide.train_tokens.dtype == wide.eval_tokens.dtype == np.uint16
    np.testing.assert_array_equal(wide.train_tokens, [[0, 256, 3]])
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 65535\], got \[-1, 3\]"):
        TokenTask(np.array([[0, -1, 3]]), np.array([[1, 2, 3]]))
