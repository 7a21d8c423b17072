"""Device claims on a multi-device host, with fake device ids on the CPU (no accelerator needed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from supercollapse import devices

ROOT = Path(__file__).resolve().parents[1]

# A job: claim a device, record which, hold it a while, then end normally or by SIGKILL on itself.
JOB = textwrap.dedent("""
    import os, signal, sys, time
    from supercollapse.devices import claim_device
    claim = claim_device("gpu", timeout_s=60, poll_s=0.02)
    out, hold, crash = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "crash"
    with open(out, "a") as f:
        f.write(f"{time.monotonic()} start {os.environ['CUDA_VISIBLE_DEVICES']} {os.getpid()}\\n")
    time.sleep(hold)
    with open(out, "a") as f:
        f.write(f"{time.monotonic()} end {os.environ['CUDA_VISIBLE_DEVICES']} {os.getpid()}\\n")
    if crash:
        os.kill(os.getpid(), signal.SIGKILL)
""")


def _env(tmp_path: Path, ids: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in devices.ASSIGNED_ENV["gpu"]}
    env.update({devices.DEVICE_IDS_ENV: ids, devices.LOCK_DIR_ENV: str(tmp_path / "locks"),
                "PYTHONPATH": str(ROOT / "src")})
    return env


def _start(tmp_path: Path, ids: str, out: Path, hold: float, crash: bool = False) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", JOB, str(out), str(hold), "crash" if crash else "ok"],
                            env=_env(tmp_path, ids))


def _intervals(out: Path) -> dict[int, tuple[str, float, float]]:
    """pid -> (device, start, end) from the jobs' records."""
    seen: dict[int, dict] = {}
    for line in out.read_text().splitlines():
        t, what, device, pid = line.split()
        seen.setdefault(int(pid), {"device": device})[what] = float(t)
    return {pid: (r["device"], r["start"], r["end"]) for pid, r in seen.items()}


def test_concurrent_jobs_never_share_a_device(tmp_path):
    out = tmp_path / "claims.txt"
    # Six jobs on three devices: three run at once, the others wait for a device to come free.
    procs = [_start(tmp_path, "0,1,2", out, hold=1.5) for _ in range(6)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    runs = _intervals(out)
    assert len(runs) == 6 and {d for d, _, _ in runs.values()} <= {"0", "1", "2"}
    for pid_a, (dev_a, start_a, end_a) in runs.items():
        for pid_b, (dev_b, start_b, end_b) in runs.items():
            if pid_a < pid_b and dev_a == dev_b:
                assert end_a <= start_b or end_b <= start_a, f"jobs {pid_a} and {pid_b} shared device {dev_a}"
    # All three devices were in use at one moment: the claims do not serialise jobs needlessly.
    first_end = min(end for _, _, end in runs.values())
    assert sum(start < first_end for _, start, _ in runs.values()) == 3


def test_a_crashed_job_releases_its_device(tmp_path):
    out = tmp_path / "claims.txt"
    crashed = _start(tmp_path, "5", out, hold=0.1, crash=True)
    assert crashed.wait(timeout=60) == -signal.SIGKILL
    follower = _start(tmp_path, "5", out, hold=0.0)
    assert follower.wait(timeout=60) == 0
    assert sorted(d for d, _, _ in _intervals(out).values()) == ["5", "5"]


def test_claim_sets_the_visible_device_and_release_frees_it(tmp_path, monkeypatch):
    for name in devices.ASSIGNED_ENV["gpu"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(devices.DEVICE_IDS_ENV, "3")
    claim = devices.claim_device("gpu", lock_dir=tmp_path, poll_s=0.01)
    assert claim.device_id == "3" and os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    with pytest.raises(TimeoutError, match="no free gpu"):
        devices.claim_device("gpu", lock_dir=tmp_path, timeout_s=0.1, poll_s=0.01)
    claim.release()
    again = devices.claim_device("gpu", lock_dir=tmp_path, timeout_s=1, poll_s=0.01)
    assert again.device_id == "3"
    again.release()


def test_no_claim_when_the_scheduler_chose_or_there_is_no_device(tmp_path, monkeypatch):
    monkeypatch.setenv(devices.DEVICE_IDS_ENV, "0,1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")  # e.g. SLURM's --gpus
    assert devices.claim_device("gpu", lock_dir=tmp_path) is None
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1" and not list(tmp_path.iterdir())
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setenv(devices.DEVICE_IDS_ENV, "")
    assert devices.claim_device("gpu", lock_dir=tmp_path) is None


def test_tpu_claim_gives_each_process_one_chip_and_its_own_port(tmp_path, monkeypatch):
    for name in devices.ASSIGNED_ENV["tpu"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(devices.DEVICE_IDS_ENV, "2")
    for name in devices.visible_device_env("tpu", "2"):
        monkeypatch.delenv(name, raising=False)
    claim = devices.claim_device("tpu", lock_dir=tmp_path)
    assert os.environ["TPU_VISIBLE_CHIPS"] == "2" and os.environ["TPU_PROCESS_BOUNDS"] == "1,1,1"
    assert os.environ["TPU_PROCESS_PORT"] == str(devices.TPU_PORT_BASE + 2)
    claim.release()


def test_bad_device_ids_are_named(monkeypatch):
    monkeypatch.setenv(devices.DEVICE_IDS_ENV, "0,gpu1")
    with pytest.raises(ValueError, match=devices.DEVICE_IDS_ENV):
        devices.host_devices("gpu")
    with pytest.raises(ValueError, match="kind"):
        devices.host_devices("npu")


@pytest.mark.parametrize("script", ["train_run.py", "coord_check.py"])
def test_jax_scripts_claim_before_jax_is_imported(script):
    """The claim only works if JAX has not started: it must come before any import that pulls JAX in."""
    lines = (ROOT / "workflow" / "scripts" / script).read_text().splitlines()
    claim = next(i for i, line in enumerate(lines) if line.startswith("start_device_job("))
    imported = {line.split()[1] for line in lines[:claim] if line.startswith(("import ", "from "))}
    assert imported <= {"sys", "pathlib", "supercollapse.workflow", "supercollapse.devices"}, imported
    # And the modules imported before it do not import JAX themselves.
    code = ("import sys; import supercollapse.workflow, supercollapse.devices; "
            "sys.exit(int(any(m.split('.')[0] in ('jax', 'jaxlib') for m in sys.modules)))")
    assert subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                          timeout=60).returncode == 0
