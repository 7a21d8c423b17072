"""Hashes of the package code each rule family depends on, so Snakemake reruns what a code change affects.

Snakemake tracks a script's mtime but not the modules it imports. Each rule family gets a `params:` entry
with the hash of the package modules it uses. The hash is over the parsed syntax tree, so comments and
formatting do not retrain a model, while any change to what the code does (docstrings included) does.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

# Package modules (relative to src/supercollapse) each rule family imports, directly or indirectly.
# The contracts of the data and training artifacts: the analysis and report schemas (schemas/results.py) are
# not part of the training code, so a new summary column does not rerun training.
RUN_SCHEMAS = ("schemas/__init__.py", "schemas/runs.py")

FAMILIES: dict[str, tuple[str, ...]] = {
    # The Fourier task's data stage only: a tokenizer or download change must not remake (and so retrain) it.
    "data": ("data/__init__.py", "data/fourier.py", "stages/fourier_task.py", "io.py", *RUN_SCHEMAS),
    # The token tasks' data stage (rule tokenize): chess, CIFAR-5M, downloads, the token store.
    "tokens": ("data", "stages/tokens.py", "io.py", *RUN_SCHEMAS),
    # analysis/horizon.py: the compute-optimal runs take their horizons from it (horizon_steps), not from how the
    # law is fitted (a frontier change reaches them through horizon.json, an input). Of data/,
    # only what training imports; token files reach training as inputs, tracked by Snakemake.
    "train": ("data/__init__.py", "data/fourier.py", "stages/fourier_task.py", "data/tokens.py", "models", "train",
              "stages/train.py", "plan.py", "kinds.py", "divergence.py", "analysis/horizon.py", "io.py",
              *RUN_SCHEMAS),
    # The analysis math and its rules' read-call-write functions.
    "analysis": ("analysis", "stages/analysis.py", "stages/prediction.py", "divergence.py", "io.py", "schemas"),
    # An external task's import and its horizons without a sweep (rules/external.smk).
    "external": ("external", "stages/external.py", "stages/analysis.py", "analysis", "divergence.py", "io.py",
                 "schemas"),
    "plots": ("plots.py", "analysis/sweep_frontier.py", "analysis/frontier.py", "io.py", "schemas"),
    # The summary table (and the caption numbers, which Snakemake does not count as rerun triggers).
    "summary": ("summary.py", "stages/report.py", "io.py", "schemas"),
}


def source_hash(package_dir: str | Path, family: str) -> str:
    """SHA-256 (first 16 hex digits) of the syntax trees of the modules of `family`."""
    if family not in FAMILIES:
        raise KeyError(f"unknown code family {family!r}; expected one of {sorted(FAMILIES)}")
    package_dir = Path(package_dir)
    files: list[Path] = []
    for entry in FAMILIES[family]:
        path = package_dir / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(package_dir)).encode())
        digest.update(ast.dump(ast.parse(path.read_text(), filename=str(path))).encode())
    return digest.hexdigest()[:16]
