"""Checkpoint and resume: a training job killed with SIGKILL resumes and writes the uninterrupted curves."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from supercollapse.stages.fourier_task import make_fourier_task, read_fourier_task
from supercollapse.train import checkpoint as ckpt
from supercollapse.train.engine import RunSpec, train
from supercollapse.train.tasks import FourierTask

DATA = {"input_dim": 4, "n_modes": 32, "pareto_exponent": 2.0, "eval_size": 256, "seed": 0}
# Long enough (about 2 s of updates on one CPU thread) that the kill lands mid-run.
SPEC = dict(task="fourier", study="test", width=8, depth=2, input_dim=4, steps=10000, batch_size=64,
            seeds=(0, 1), schedule="linear", warmup_steps=5, lr=0.003, n_evals=24, base_width=8)

DRIVER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from supercollapse.train.checkpoint import CheckpointPolicy
    from supercollapse.train.engine import RunSpec
    from supercollapse.stages.train import run_job
    from supercollapse.workflow import setup_logging
    setup_logging(None)
    spec, root = json.loads(sys.argv[1]), Path(sys.argv[2])
    spec["seeds"] = tuple(spec["seeds"])
    policy = CheckpointPolicy(root / "results/.checkpoints/run", every_s=0.0)
    run_job(RunSpec(**spec), {"target": root / "target.parquet", "evalset": root / "eval.parquet"},
            root / "results/run.parquet", extra_meta={"code_hash": "test"}, checkpoint=policy)
""")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    make_fourier_task(DATA, root / "target.parquet", root / "eval.parquet", root / "meta.json")
    return root


def _driver(root: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", DRIVER, json.dumps(SPEC), str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _checkpoint_step(path: Path) -> int | None:
    try:
        with np.load(path) as npz:
            return int(json.loads(npz["__header__"].tobytes().decode())["step"])
    except (OSError, ValueError, KeyError):
        return None


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_and_matches_an_uninterrupted_run(data):
    state = data / "results/.checkpoints/run" / ckpt.STATE_FILE
    proc = _driver(data)
    deadline = time.monotonic() + 120
    while (_checkpoint_step(state) or 0) < SPEC["steps"] // 8:
        assert proc.poll() is None, f"the job ended before it was killed:\n{proc.stdout.read()}"
        assert time.monotonic() < deadline, "no checkpoint appeared within 120 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = _checkpoint_step(state)
    assert killed_at < SPEC["steps"] and not (data / "results/run.parquet").exists()

    proc = _driver(data)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert "resuming width 8" in out

    resumed = pq.read_table(data / "results/run.parquet")
    meta = json.loads(resumed.schema.metadata[b"supercollapse.run"])
    assert meta["resumed_from"]["step"] >= killed_at >= SPEC["steps"] // 8
    assert not (data / "results/.checkpoints").exists(), "checkpoint folder not removed on success"

    task = FourierTask(*read_fourier_task(data / "target.parquet", data / "eval.parquet"))
    reference, _ = train(RunSpec(**SPEC), task)
    for column in ("step", "seed", "eval_loss", "train_loss", "lr", "tau"):
        np.testing.assert_array_equal(resumed.column(column).to_numpy(), reference.column(column).to_numpy(),
                                      err_msg=column)


def _task():
    from supercollapse.data.fourier import make_target, sample_inputs

    target = make_target(32, 4, 2.0, seed=0)
    x = sample_inputs(np.random.default_rng(1), 128, 4).astype(np.float32)
    return FourierTask(target, x, target(x.astype(np.float64)))


def test_checkpoint_of_another_run_is_ignored_with_a_log_line(tmp_path, caplog):
    small = {**SPEC, "steps": 200, "n_evals": 8}
    policy = ckpt.CheckpointPolicy(tmp_path / ".checkpoints" / "w8", every_s=0.0)
    task = _task()
    train(RunSpec(**small), task, checkpoint=policy, extra_meta={"code_hash": "a"})
    assert policy.path.exists()  # the caller (run_job) removes it after writing the output
    with caplog.at_level(logging.INFO, logger="supercollapse.train"):
        reference, _ = train(RunSpec(**small), task, checkpoint=policy, extra_meta={"code_hash": "b"})
    assert "belongs to another run" in caplog.text and "resuming" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="supercollapse.train"):
        table, meta = train(RunSpec(**small), task, checkpoint=policy, extra_meta={"code_hash": "b"})
    assert "resuming width 8" in caplog.text and meta["resumed_from"] is not None
    np.testing.assert_array_equal(table.column("eval_loss").to_numpy(), reference.column("eval_loss").to_numpy())


def test_sequential_seed_groups_resume_mid_run(tmp_path):
    # A checkpoint every 50 updates; a run resumed from each point in turn gives the same curves (and noise traces).
    small = RunSpec(**{**SPEC, "steps": 120, "n_evals": 10, "seed_batching": "sequential", "noise_examples": 64})
    task = _task()
    reference, _ = train(small, task)
    policy = ckpt.CheckpointPolicy(tmp_path / ".checkpoints" / "w8", every_s=1e9, every_steps=50)
    train(small, task, checkpoint=policy)
    header = json.loads(np.load(policy.path)["__header__"].tobytes().decode())
    assert header["group"] == 1  # the last checkpoint is inside the second seed's run
    table, meta = train(small, task, checkpoint=policy)
    assert meta["resumed_from"]["group"] == 1
    np.testing.assert_array_equal(table.column("eval_loss").to_numpy(), reference.column("eval_loss").to_numpy())
    np.testing.assert_array_equal(table.column("train_loss").to_numpy(), reference.column("train_loss").to_numpy())
    np.testing.assert_array_equal(table.column("noise_trace").to_numpy(), reference.column("noise_trace").to_numpy())


def test_checkpoint_dir_lies_outside_the_outputs_and_clear_keeps_other_jobs(tmp_path):
    results = tmp_path / "results"
    a = ckpt.checkpoint_dir(results, results / "fourier/optimal/runs/w16.parquet")
    b = ckpt.checkpoint_dir(results, results / "fourier/optimal/runs/w24.parquet")
    assert a == (results / ".checkpoints/fourier/optimal/runs/w16").absolute()
    assert ckpt.checkpoint_dir(results, tmp_path / "elsewhere/w8.parquet") == \
        (tmp_path / "elsewhere/.checkpoints/w8").absolute()
    for d in (a, b):
        ckpt.save(ckpt.CheckpointPolicy(d), {"fingerprint": "x"}, {"v": np.arange(3)})
    assert not [p for p in a.iterdir() if p.name.endswith(".tmp")]
    ckpt.clear(ckpt.CheckpointPolicy(a))
    assert not a.exists() and b.exists()
    ckpt.clear(ckpt.CheckpointPolicy(b))
    assert not (results / ".checkpoints").exists() and results.exists()


def test_unreadable_checkpoint_is_ignored(tmp_path, caplog):
    policy = ckpt.CheckpointPolicy(tmp_path / "w8")
    policy.path.parent.mkdir(parents=True)
    policy.path.write_bytes(b"not a zip file")
    with caplog.at_level(logging.WARNING, logger="supercollapse.train"):
        assert ckpt.load(policy, "x") is None
    assert "unreadable checkpoint" in caplog.text


def test_bad_policy_values_are_rejected():
    with pytest.raises(ValueError, match="every_s"):
        ckpt.CheckpointPolicy(Path("x"), every_s=-1)
    with pytest.raises(ValueError, match="every_steps"):
        ckpt.CheckpointPolicy(Path("x"), every_steps=0)


def test_save_then_load_round_trips_and_leaves_only_the_state_file(tmp_path):
    policy = ckpt.CheckpointPolicy(tmp_path / "w8")
    ckpt.save(policy, {"fingerprint": "f"}, {"a": np.ones(2)})
    header, arrays = ckpt.load(policy, "f")
    assert header == {"fingerprint": "f"} and arrays["a"].tolist() == [1.0, 1.0]
    assert os.listdir(policy.directory) == [ckpt.STATE_FILE]


@pytest.mark.parametrize("broken", ["eval_loss", "state_0"])
def test_checkpoint_with_other_shapes_is_discarded_naming_the_file(tmp_path, caplog, broken):
    """Issue 17, case 9: the fingerprint matches but the arrays do not (here: cut short). The run warns naming
    the file, discards it and trains from scratch, to the same curves as a run without it."""
    small = RunSpec(**{**SPEC, "steps": 100, "n_evals": 8})
    task = _task()
    policy = ckpt.CheckpointPolicy(tmp_path / ".checkpoints" / "w8", every_s=0.0)
    reference, _ = train(small, task, checkpoint=policy)
    header, arrays = ckpt.load(policy, json.loads(np.load(policy.path)["__header__"].tobytes().decode())["fingerprint"])
    ckpt.save(policy, header, {**arrays, broken: arrays[broken][..., :2]})
    with caplog.at_level(logging.WARNING, logger="supercollapse.train"):
        table, meta = train(small, task, checkpoint=policy)
    assert f"discarding checkpoint {policy.path}" in caplog.text and broken in caplog.text
    assert meta["resumed_from"] is None
    np.testing.assert_array_equal(table.column("eval_loss").to_numpy(), reference.column("eval_loss").to_numpy())
