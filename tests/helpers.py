"""Shared by the end-to-end tests: a copy of the project tree with a config, and snakemake runs in it.

The copy lets a test edit package code and config without touching the checkout; the workflow always
imports the package beside its Snakefile, so the copy's code is what runs and what is hashed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((ROOT / "tests" / "data" / "tiny.yaml").read_text())
# The cluster tests' interpreter: .venv plus the executor plugins (.ci/install-cluster).
CLUSTER_PYTHON = ROOT / ".venv-cluster" / "bin" / "python"


def copy_project(dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".snakemake", "results")
    for name in ("Snakefile", "rules", "workflow", "src", "config", "environment.yml", "profiles"):
        src = ROOT / name
        (shutil.copytree(src, dst / name, ignore=ignore) if src.is_dir() else shutil.copy(src, dst / name))
    return dst


def write_config(proj: Path, cfg: dict) -> None:
    (proj / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def snakemake(proj: Path, *args: str, check: bool = True, python: str | Path = sys.executable,
              env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(proj / "src")}
    proc = subprocess.run([str(python), "-m", "snakemake", *args], cwd=proj, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def scheduled_jobs(proj: Path, *args: str) -> dict[str, int]:
    """Job counts of a dry run (`snakemake -n`, plus `args`), from its 'Job stats' table; {} when nothing is to be
    done."""
    out = snakemake(proj, "-n", "--cores", "1", *args)
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    counts = {}
    for line in text.split("Job stats:", 1)[1].splitlines()[3:]:
        parts = line.split()
        if not parts or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts
