"""One accelerator per training job on a multi-device host, claimed through a lock directory.

Snakemake's `resources: gpu=1` only counts devices; it never says which one a job may use. So a training
job claims a free device itself before JAX starts: one lock file per device id in a directory shared by
every job on the host, held with `flock` for the life of the process. The kernel drops the lock when the
process ends, however it ends (exit, exception, SIGKILL), so a crashed job never leaves a device taken.

Nothing here imports JAX: `claim_device` must run before JAX is imported, since JAX reads the visible
devices once, when its backend starts. Standard library only.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("supercollapse.devices")

DEVICE_IDS_ENV = "SUPERCOLLAPSE_DEVICE_IDS"  # explicit ids ("0,1,2,3"); overrides detection (tests use it)
LOCK_DIR_ENV = "SUPERCOLLAPSE_DEVICE_LOCKS"  # lock directory; default below, shared by all jobs of a host
DEFAULT_LOCK_DIR = Path(tempfile.gettempdir()) / "supercollapse-device-locks"
# A scheduler that already chose the device (SLURM, the Kubernetes device plugin) sets one of these.
ASSIGNED_ENV = {"gpu": ("CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES"),
                "tpu": ("TPU_VISIBLE_CHIPS", "TPU_VISIBLE_DEVICES")}
# Device files per chip: NVIDIA /dev/nvidia0..N; TPU v2-v4 /dev/accel0..N, v5e and later /dev/vfio/0..N.
DEVICE_FILES = {"gpu": (("/dev", r"nvidia(\d+)"),), "tpu": (("/dev", r"accel(\d+)"), ("/dev/vfio", r"(\d+)"))}
TPU_PORT_BASE = 8476  # libtpu's default port; each one-chip process needs its own


@dataclass
class Claim:
    """A held device: `device_id` stays ours until `release()` or the end of the process."""

    kind: str
    device_id: str
    lock_path: Path
    _fd: int | None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


_held: list[Claim] = []  # keeps the descriptors of this process's claims open


def host_devices(kind: str) -> list[str]:
    """Device ids of `kind` ("gpu" or "tpu") on this host: from SUPERCOLLAPSE_DEVICE_IDS, else device files."""
    if kind not in DEVICE_FILES:
        raise ValueError(f"device kind must be one of {sorted(DEVICE_FILES)}, got {kind!r}")
    explicit = os.environ.get(DEVICE_IDS_ENV)
    if explicit is not None:
        ids = [part.strip() for part in explicit.split(",") if part.strip()]
        if not all(re.fullmatch(r"\d+", i) for i in ids):
            raise ValueError(f"{DEVICE_IDS_ENV} must be comma-separated integers, got {explicit!r}")
        return ids
    found: set[int] = set()
    for folder, pattern in DEVICE_FILES[kind]:
        if os.path.isdir(folder):
            found.update(int(m.group(1)) for name in os.listdir(folder) if (m := re.fullmatch(pattern, name)))
    return [str(i) for i in sorted(found)]


def visible_device_env(kind: str, device_id: str) -> dict[str, str]:
    """Environment that restricts JAX (and the runtime under it) to one device."""
    if kind == "gpu":
        return {"CUDA_VISIBLE_DEVICES": device_id}
    # One chip per process on a single-host TPU VM: each process sees one chip as a 1x1x1 slice and talks
    # to its own port, so several processes can share the host.
    port = str(TPU_PORT_BASE + int(device_id))
    return {"TPU_VISIBLE_CHIPS": device_id, "TPU_VISIBLE_DEVICES": device_id,
            "TPU_CHIPS_PER_PROCESS_BOUNDS": "1,1,1", "TPU_PROCESS_BOUNDS": "1,1,1",
            "TPU_PROCESS_PORT": port, "TPU_PROCESS_ADDRESSES": f"localhost:{port}"}


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for a human looking at the directory
    return fd


def claim_device(kind: str = "gpu", lock_dir: str | Path | None = None, timeout_s: float | None = None,
                 poll_s: float = 1.0) -> Claim | None:
    """Claim one free device of `kind` and make it the only one this process (and JAX) can see.

    Returns None, claiming nothing, when a scheduler already set the visible devices or the host has no
    device of that kind (CPU runs). Otherwise waits, polling every `poll_s` seconds, until a device is
    free; raises TimeoutError after `timeout_s` (None: wait for ever). Call before importing JAX.
    """
    for name in ASSIGNED_ENV.get(kind, ()):
        if os.environ.get(name):
            log.info("%s=%s set by the scheduler: no device claim", name, os.environ[name])
            return None
    ids = host_devices(kind)
    if not ids:
        return None
    folder = Path(lock_dir or os.environ.get(LOCK_DIR_ENV) or DEFAULT_LOCK_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        folder.chmod(0o1777)  # shared by every user's jobs on the host, like /tmp
    except PermissionError:
        pass
    start = time.monotonic()
    while True:
        for device_id in ids:
            path = folder / f"{kind}{device_id}.lock"
            fd = _try_lock(path)
            if fd is not None:
                claim = Claim(kind, device_id, path, fd)
                _held.append(claim)
                os.environ.update(visible_device_env(kind, device_id))
                log.info("claimed %s %s (lock %s)", kind, device_id, path)
                return claim
        if timeout_s is not None and time.monotonic() - start >= timeout_s:
            raise TimeoutError(f"no free {kind} among ids {ids} after {timeout_s:.0f} s "
                               f"(locks in {folder}; lower the profile's `resources: {kind}=` to the device count)")
        time.sleep(poll_s)


def local_devices() -> int:
    """Accelerators on this machine (GPUs, else TPU chips), else the CPU devices XLA will make (1 unless
    XLA_FLAGS forces more); without importing JAX."""
    for kind in ("gpu", "tpu"):
        if ids := host_devices(kind):
            return len(ids)
    forced = re.search(r"--xla_force_host_platform_device_count=(\d+)", os.environ.get("XLA_FLAGS", ""))
    return int(forced.group(1)) if forced else 1


def host_memory_mb() -> int:
    """This machine's memory in MB."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
