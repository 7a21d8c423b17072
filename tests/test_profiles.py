"""Every profile dry-runs, and gives a training job the resources its executor needs; job-size estimates."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from helpers import CLUSTER_PYTHON, ROOT, TINY, copy_project, snakemake, write_config
from supercollapse import jobsize

PROFILES = ("local-gpu", "slurm", "slurm-gres", "kubernetes", "googlebatch", "tpu-vm")
# Resources of a sweep training job per profile (beside runtime and mem_mb, estimated from its FLOPs).
TRAINING = {
    "local-gpu": {"gpu": "1"},
    "slurm": {"gpu": "1", "slurm_partition": "gpu", "slurm_account": "your_account"},
    "slurm-gres": {"gpu": "0", "gres": "gpu:1", "slurm_partition": "gpu"},
    "kubernetes": {"gpu": "1", "gpu_manufacturer": "nvidia"},
    "googlebatch": {"nvidia_gpu": "1", "googlebatch_machine_type": "g2-standard-4"},
    "tpu-vm": {"tpu": "1", "gpu": "0"},
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    proj = copy_project(tmp_path_factory.mktemp("profiles"))
    write_config(proj, TINY)
    return proj


def _python_for(profile: str):
    """The executors of the cluster profiles are plugins, installed in .venv-cluster (.ci/install-cluster)."""
    if yaml.safe_load((ROOT / "profiles" / profile / "config.yaml").read_text()).get("executor") is None:
        return None
    if CLUSTER_PYTHON.exists():
        return CLUSTER_PYTHON
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CLUSTER_PYTHON} missing in CI (.ci/install-cluster)")
    pytest.skip(f"executor plugins not installed ({CLUSTER_PYTHON}; run .ci/install-cluster)")


def _job_resources(text: str, rule: str, width: int) -> dict[str, str]:
    """The `resources:` line of the dry run's job of `rule` at `width`."""
    for block in text.split("rule ")[1:]:
        if block.startswith(f"{rule}:") and f"width={width}" in block:
            line = re.search(r"resources: (.*)", block).group(1)
            return dict(item.split("=", 1) for item in line.split(", "))
    raise AssertionError(f"no {rule} job of width {width} in the dry run:\n{text[-3000:]}")


@pytest.mark.slow
@pytest.mark.parametrize("profile", PROFILES)
def test_profile_dry_run_gives_training_jobs_their_resources(project, profile):
    python = _python_for(profile)
    args = ["-n", "--workflow-profile", f"profiles/{profile}"]
    cfg = yaml.safe_load((project / "profiles" / profile / "config.yaml").read_text())
    if cfg.get("default-storage-provider"):
        # The cloud profiles keep files in a bucket; a dry run here has no credentials, so a local folder
        # stands in for it (the executor, its settings and the resources stay the profile's).
        args += ["--default-storage-provider", "fs", "--default-storage-prefix", str(project / "bucket")]
    out = snakemake(project, *args, python=python or sys.executable, timeout=300)
    text = out.stdout + out.stderr
    res = _job_resources(text, "sweep_run", 8)
    assert TRAINING[profile].items() <= res.items(), res
    assert int(res["runtime"]) >= jobsize.MIN_RUNTIME_MIN and int(res["mem_mb"]) >= jobsize.HOST_BASE_MB
    # An optimal run's runtime waits for the horizon fit; its memory does not.
    opt = _job_resources(text, "optimal_run", 12)
    assert opt["runtime"] == "<TBD>" and int(opt["mem_mb"]) >= jobsize.HOST_BASE_MB
    if cfg.get("group-components"):
        assert "Group job sweep_small" in text


@pytest.mark.slow
@pytest.mark.parametrize("profile,expected", [("slurm", "--gpus=1"), ("slurm-gres", "--gres=gpu:1")])
def test_slurm_profiles_put_the_gpu_on_the_sbatch_line(project, profile, expected):
    """The plugin's own sbatch argument for a training job under each SLURM profile."""
    python = _python_for(profile)
    code = f"""
import sys, yaml
from types import SimpleNamespace
from snakemake_executor_plugin_slurm.utils import set_gres_string
cfg = yaml.safe_load(open("profiles/{profile}/config.yaml"))
res = {{"gpu": 1, **cfg.get("set-resources", {{}}).get("sweep_run", {{}})}}
job = SimpleNamespace(resources=SimpleNamespace(get=res.get, **res))
print(set_gres_string(job).strip())
"""
    out = subprocess.run([str(python), "-c", code], cwd=project, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


def test_training_flops_count_training_and_evaluation():
    assert jobsize.train_flops(1000, 10, 32, 2, 5, 100) == 2 * (6 * 1000 * 32 * 10 + 2 * 1000 * 100 * 5)


def test_runtime_grows_with_flops_and_has_a_floor():
    assert jobsize.runtime_minutes(0) == max(jobsize.MIN_RUNTIME_MIN,
                                             -(-int(jobsize.SAFETY * jobsize.STARTUP_S) // 60))
    hour_of_work = 3600 * jobsize.ACCELERATOR_FLOPS_PER_S
    assert jobsize.runtime_minutes(hour_of_work) == pytest.approx(
        jobsize.SAFETY * (60 + jobsize.STARTUP_S / 60), abs=1)
    assert jobsize.runtime_minutes(10 * hour_of_work) > jobsize.runtime_minutes(hour_of_work)


def test_a_job_far_past_the_accelerator_runtime_on_a_cpu_is_a_warning(caplog):
    """Issue 17 case 6: width 4096 of the tiny config, extrapolated 8x past its sweep, plans 2.8e16 FLOPs: a
    16-minute runtime resource on an accelerator, about 39 h on this 2-core CPU. The job says so at its start."""
    from supercollapse.plan import RunPlan
    from supercollapse.stages.train import log_estimate

    flops = 2.78e16
    wide = RunPlan(task="fourier", study="optimal", width=4096, params=67_129_344, steps=135_008, tokens_per_step=256,
                   seeds=(0, 1), schedule="linear", decay_frac=1.0, evaluations=40, flops=flops,
                   runtime_min=jobsize.runtime_minutes(flops), mem_mb=4096)
    assert wide.runtime_min == 16
    with caplog.at_level("INFO", logger="supercollapse.train"):
        seconds = log_estimate(wide, "cpu", 2)
    assert seconds / 3600 == pytest.approx(flops / 2e11 / 3600 + jobsize.STARTUP_S / 3600)
    (record,) = caplog.records
    assert record.levelname == "WARNING" and "tasks.fourier width 4096 (optimal)" in record.getMessage()
    assert "38.7 h on this CPU (2 cores" in record.getMessage() and "16 min of its runtime" in record.getMessage()
    caplog.clear()
    with caplog.at_level("INFO", logger="supercollapse.train"):
        log_estimate(wide, "gpu", 2)
    assert [r.levelname for r in caplog.records] == ["INFO"] and "a gpu at about 1e+14" in caplog.text


def test_memory_is_rounded_and_grows_with_the_model():
    small = jobsize.mem_mb(10_000, 2, 256, 16, 2, 1, 512)
    big = jobsize.mem_mb(1_000_000_000, 4, 4096, 4096, 5, 1, 4096)
    assert small % 256 == 0 and small >= jobsize.HOST_BASE_MB
    # 1e9 parameters x 4 seeds x 16 bytes of state = 64 GB, doubled by the safety factor.
    assert big > 128_000 and big % 256 == 0


def test_small_jobs_are_the_ones_grouped():
    assert jobsize.is_small_job(1e12)
    assert not jobsize.is_small_job(60 * jobsize.SMALL_JOB_MIN * jobsize.ACCELERATOR_FLOPS_PER_S)
