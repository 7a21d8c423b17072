"""Helpers for the thin workflow scripts: logging to the rule's log file, CPU thread limits, device claims.

Nothing here imports JAX: `limit_cpu_threads`, `share_accelerator_memory` and `start_device_job` must run
before JAX starts.
"""

from __future__ import annotations

import logging
import os
import sys


def setup_logging(log_path: str | None) -> None:
    """Send the package's log records and stderr to the rule's log file (and keep them on stderr too)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        handlers=handlers, force=True)
    logging.captureWarnings(True)


def limit_cpu_threads(threads: int) -> None:
    """Pin XLA's CPU backend to `threads` threads (call before importing JAX). No effect on GPU kernels."""
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        extra = "--xla_cpu_multi_thread_eigen=false"
        os.environ["XLA_FLAGS"] = f"{flags} {extra}".strip()
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def share_accelerator_memory() -> None:
    """Let several jobs share one GPU: allocate device memory on demand (call before importing JAX).

    By default JAX grabs 75% of a GPU's memory when it starts, so a second job on the same device runs out
    of memory. A user's own XLA_PYTHON_CLIENT_PREALLOCATE or XLA_PYTHON_CLIENT_MEM_FRACTION is kept.
    """
    if "XLA_PYTHON_CLIENT_MEM_FRACTION" not in os.environ:
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def start_device_job(resources, threads: int) -> None:
    """The start of a job that runs JAX (training, the coordinate check), before anything imports JAX: claim a
    free device of the kind its resources ask for (tpu, else gpu) and hide the others, held until the process
    exits (devices.py); pin XLA's CPU threads; allocate GPU memory on demand so jobs can share a device."""
    from .devices import claim_device

    claim_device("tpu" if resources.get("tpu", 0) else "gpu")
    limit_cpu_threads(threads)
    share_accelerator_memory()
