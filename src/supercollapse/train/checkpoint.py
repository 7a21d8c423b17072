"""Checkpoints of one training job, so a killed job resumes where it stopped and writes the same curves.

A checkpoint is one `.npz` file in the job's checkpoint folder: the training state of the seed group in
progress (parameters, Adam moments, data keys, last train loss), the curve arrays filled so far, and a JSON
header (position, the run's fingerprint, elapsed time). It is written under a temporary name and renamed,
so a kill during the write leaves the previous checkpoint intact. The folder lies outside the declared
outputs: Snakemake removes the outputs of a failed job, never this folder. It is removed once the job's
output is written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import atomic_path

log = logging.getLogger("supercollapse.train")

STATE_FILE = "state.npz"
CHECKPOINTS = ".checkpoints"


@dataclass(frozen=True)
class CheckpointPolicy:
    """Where a job keeps its checkpoint and how often it writes one (at evaluation points only).

    A checkpoint is written at the first evaluation point at least `every_s` seconds after the previous one,
    or (when set) at least `every_steps` updates after it, whichever comes first.
    """

    directory: Path
    every_s: float = 300.0
    every_steps: int | None = None

    def __post_init__(self):
        if self.every_s < 0:
            raise ValueError(f"checkpoint every_s must be >= 0, got {self.every_s}")
        if self.every_steps is not None and self.every_steps < 1:
            raise ValueError(f"checkpoint every_steps must be >= 1 or None, got {self.every_steps}")

    @property
    def path(self) -> Path:
        return Path(self.directory) / STATE_FILE


def checkpoint_dir(results: str | os.PathLike, output: str | os.PathLike) -> Path:
    """The checkpoint folder of the job writing `output`: `<results>/.checkpoints/<output below results>`.

    E.g. results/fourier/optimal/runs/w16.parquet -> results/.checkpoints/fourier/optimal/runs/w16. An output
    outside `results` keeps its checkpoint beside it, in `.checkpoints/<name>` of its own folder.
    """
    results, output = Path(results).absolute(), Path(output).absolute()
    try:
        rel = output.relative_to(results)
    except ValueError:
        return output.parent / CHECKPOINTS / output.stem
    return results / CHECKPOINTS / rel.with_suffix("")


def save(policy: CheckpointPolicy, header: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write the checkpoint atomically (temporary file in the same folder, then rename)."""
    with atomic_path(policy.path) as tmp, open(tmp, "wb") as f:
        np.savez(f, __header__=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
        f.flush()
        os.fsync(f.fileno())


def load(policy: CheckpointPolicy, fingerprint: str) -> tuple[dict, dict[str, np.ndarray]] | None:
    """The checkpoint's header and arrays, or None when there is none or it belongs to another run.

    A checkpoint whose fingerprint differs (another spec, code hash, target or device setup) or that cannot
    be read is ignored with a log line; the next checkpoint of this run overwrites it.
    """
    path = policy.path
    if not path.exists():
        return None
    try:
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in npz.files}
        header = json.loads(arrays.pop("__header__").tobytes().decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        log.warning("ignoring unreadable checkpoint %s (%s); starting from scratch", path, err)
        return None
    if header.get("fingerprint") != fingerprint:
        log.warning("ignoring checkpoint %s: it belongs to another run (fingerprint %s, this run %s); "
                    "starting from scratch", path, header.get("fingerprint"), fingerprint)
        return None
    return header, arrays


def clear(policy: CheckpointPolicy) -> None:
    """Remove the job's checkpoint folder (after its output is written), and parents left empty."""
    directory = Path(policy.directory)
    shutil.rmtree(directory, ignore_errors=True)
    top = next((p for p in directory.parents if p.name == CHECKPOINTS), None)
    if top is None:
        return
    for parent in directory.parents:
        try:
            parent.rmdir()  # succeeds only while empty: other jobs' checkpoints stay
        except OSError:
            return
        if parent == top:
            return
