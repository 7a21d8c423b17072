"""The tiny config through profiles/slurm on a real one-node SLURM started on localhost.

The cluster (munged, MariaDB, slurmdbd, slurmctld, slurmd with two fake GPUs) runs from a temporary folder
as plain background processes and is stopped by PID at the end. Needs root and what .ci/install-cluster
installs; skipped without them, except in CI (CI=true), where a missing piece fails the test.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest
import yaml

from helpers import CLUSTER_PYTHON, ROOT, TINY, copy_project, snakemake, write_config

SBIN = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")
DAEMONS = ("munged", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct",
           "sacctmgr", "sinfo", "squeue", "scancel")
# A bound on every snakemake call (killed with SIGKILL when reached): without accounting the executor plugin
# can hang and ignore SIGTERM. Generous, because a 2-core machine may be shared with other work: with a load
# of 6-7 from other processes the SLURM run alone took over 6.5 minutes.
RUN_TIMEOUT_S = 600
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# written by supercollapse tests/test_slurm.py, removed when the test ends"


def _tool(name: str) -> str | None:
    return shutil.which(name) or next((f"{d}/{name}" for d in SBIN if os.access(f"{d}/{name}", os.X_OK)), None)


def _missing() -> list[str]:
    missing = [name for name in DAEMONS if _tool(name) is None]
    if not CLUSTER_PYTHON.exists():
        missing.append(f"{CLUSTER_PYTHON} (run .ci/install-cluster)")
    if os.geteuid() != 0:
        missing.append("root")
    return missing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check, timeout_s: float = 60.0, log: Path | None = None) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if check():
            return
        time.sleep(0.5)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not come up within {timeout_s:.0f} s\n{tail}")


def _wait_quietly(check, timeout_s: float) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s and not check():
        time.sleep(0.5)


class Cluster:
    """A one-node SLURM with accounting, all state under `base`; every daemon is a child we can stop."""

    def __init__(self, base: Path):
        self.base = base
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.host = socket.gethostname().split(".")[0]
        self.conf = base / "etc" / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.user = getpass.getuser()
        self.account = "supercollapse"

    def _spawn(self, name: str, *cmd: str) -> subprocess.Popen:
        log = open(self.base / f"{name}.out", "w")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def _ok(self, *cmd: str) -> bool:
        return subprocess.run(cmd, env=self.env, capture_output=True, timeout=30).returncode == 0

    def run(self, *cmd: str) -> str:
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stdout}{proc.stderr}")
        return proc.stdout

    def start(self) -> None:
        b = self.base
        for sub in ("etc", "state", "spool", "mysql", "run"):
            (b / sub).mkdir(parents=True, exist_ok=True)
        self._start_munge()
        self._start_mariadb()
        ports = {"ctld": _free_port(), "slurmd": _free_port(), "dbd": _free_port()}
        mem_mb = int(int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) / 1024 * 0.8)
        cpus = os.cpu_count() or 1
        self.conf.write_text("\n".join([
            "ClusterName=sctest", f"SlurmctldHost={self.host}(127.0.0.1)", f"SlurmctldPort={ports['ctld']}",
            f"SlurmdPort={ports['slurmd']}", "SlurmUser=root", "SlurmdUser=root", "AuthType=auth/munge",
            f"StateSaveLocation={b}/state", f"SlurmdSpoolDir={b}/spool/%n",
            f"SlurmctldPidFile={b}/run/slurmctld.pid", f"SlurmdPidFile={b}/run/slurmd.pid",
            f"SlurmctldLogFile={b}/slurmctld.log", f"SlurmdLogFile={b}/slurmd.log",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory", "MailProg=/bin/true", "DefMemPerCPU=1000",
            "ReturnToService=2", "MinJobAge=600", "SchedulerType=sched/backfill", "GresTypes=gpu",
            "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/slurmdbd",
            f"AccountingStorageHost=127.0.0.1", f"AccountingStoragePort={ports['dbd']}",
            "AccountingStorageEnforce=associations", "AccountingStoreFlags=job_comment",
            "AccountingStorageTRES=gres/gpu",  # GPUs are not in sacct's AllocTRES unless listed
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} Gres=gpu:2 State=UNKNOWN",
            "PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
            "PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP", ""]))
        self._install_default_conf()
        # Two fake GPUs: device files that exist on every Linux host.
        (b / "etc" / "gres.conf").write_text(f"NodeName={self.host} Name=gpu File=/dev/null\n"
                                             f"NodeName={self.host} Name=gpu File=/dev/zero\n")
        dbd = b / "etc" / "slurmdbd.conf"
        dbd.write_text("\n".join([
            "AuthType=auth/munge", "DbdHost=localhost", "DbdAddr=127.0.0.1", f"DbdPort={ports['dbd']}",
            "SlurmUser=root", "StorageType=accounting_storage/mysql", "StorageHost=127.0.0.1",
            f"StoragePort={self.mysql_port}", "StorageUser=slurm", "StoragePass=slurm",
            "StorageLoc=slurm_acct_db", f"PidFile={b}/run/slurmdbd.pid", f"LogFile={b}/slurmdbd.log", ""]))
        dbd.chmod(0o600)
        self._spawn("slurmdbd", _tool("slurmdbd"), "-D")
        _wait("slurmdbd", lambda: self._ok(_tool("sacctmgr"), "-n", "show", "cluster"), log=b / "slurmdbd.log")
        sacctmgr = _tool("sacctmgr")
        self.run(sacctmgr, "-i", "add", "cluster", "sctest")
        self.run(sacctmgr, "-i", "add", "account", self.account, "Cluster=sctest")
        self.run(sacctmgr, "-i", "add", "user", self.user, f"Account={self.account}", "Cluster=sctest")
        self._spawn("slurmctld", _tool("slurmctld"), "-D", "-i")
        _wait("slurmctld", lambda: self._ok(_tool("sinfo")), log=b / "slurmctld.log")
        self._spawn("slurmd", _tool("slurmd"), "-D")
        _wait("slurmd", lambda: "idle" in self.run(_tool("sinfo"), "-h", "-o", "%T"), log=b / "slurmd.log")

    def _install_default_conf(self) -> None:
        """A copy of slurm.conf at the default path: the job step plugin drops SLURM_* variables (SLURM_CONF
        too) before its nested `srun`, which then reads the default path. Only where no other one exists."""
        if DEFAULT_CONF.exists() and MARKER not in DEFAULT_CONF.read_text():
            raise RuntimeError(f"{DEFAULT_CONF} exists and is not this test's: not overwriting it")
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_CONF.write_text(f"{MARKER}\n{self.conf.read_text()}")
        self.default_conf_written = True

    def _start_munge(self) -> None:
        if self._ok("munge", "-n"):  # a munged is already serving the default socket: use it
            return
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            key.write_bytes(os.urandom(1024))
            key.chmod(0o400)
        self._spawn("munged", _tool("munged"), "--foreground", "--force")
        _wait("munged", lambda: self._ok("munge", "-n"), log=self.base / "munged.out")

    def _start_mariadb(self) -> None:
        b = self.base
        self.mysql_port = _free_port()
        # As root: pytest's temporary folders are private to the user running the tests.
        self.run(_tool("mariadb-install-db"), "--user=root", f"--datadir={b}/mysql",
                 "--auth-root-authentication-method=socket", "--skip-test-db")
        socket_path = b / "run" / "mysqld.sock"
        self._spawn("mariadbd", _tool("mariadbd"), "--no-defaults", "--user=root", f"--datadir={b}/mysql",
                    f"--socket={socket_path}", "--bind-address=127.0.0.1", f"--port={self.mysql_port}",
                    f"--pid-file={b}/run/mariadbd.pid")
        client = [_tool("mariadb") or "mysql", f"--socket={socket_path}", "-u", "root"]
        _wait("mariadbd", lambda: self._ok(*client, "-e", "select 1"), log=b / "mariadbd.out")
        self.run(*client, "-e", "CREATE DATABASE slurm_acct_db; "
                 "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm'; "
                 "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';")

    def stop(self) -> None:
        # Jobs first (slurmd ends their steps), so no job process outlives the cluster.
        if any(name == "slurmctld" and proc.poll() is None for name, proc in self.procs):
            subprocess.run([_tool("scancel"), "--full", "--user", self.user], env=self.env, timeout=30)
            _wait_quietly(lambda: not self.run(_tool("squeue"), "-h", "-o", "%i").strip(), 30)
        if getattr(self, "default_conf_written", False):
            DEFAULT_CONF.unlink(missing_ok=True)
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)

    def sacct(self) -> list[dict]:
        out = self.run(_tool("sacct"), "-X", "-n", "-P", "-a", "-S", "now-1hour",
                       "-o", "JobID,JobName,State,ExitCode,Comment,AllocTRES")
        keys = ("id", "name", "state", "exit", "comment", "tres")
        return [dict(zip(keys, line.split("|"))) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    missing = _missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"SLURM test cannot run in CI, missing: {missing}")
        pytest.skip(f"needs {missing}")
    c = Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        c.start()
        yield c
    finally:
        c.stop()


def _slurm_project(tmp_path: Path, cluster: Cluster) -> Path:
    """A project copy whose profiles/slurm has what a user edits: account and partitions (and faster polling)."""
    proj = copy_project(tmp_path)
    write_config(proj, TINY)
    profile = proj / "profiles" / "slurm" / "config.yaml"
    cfg = yaml.safe_load(profile.read_text())
    cfg["default-resources"].update(slurm_account=cluster.account, slurm_partition="cpu")
    for rule in cfg["set-resources"].values():
        rule["slurm_partition"] = "gpu"
    # Groups of 3: the five sweep runs become two sbatch jobs, which use both fake GPUs at once.
    cfg["group-components"] = {"sweep_small": 3, "optimal_small": 3}
    cfg.update({"latency-wait": 5, "seconds-between-status-checks": 2, "slurm-init-seconds-before-status-checks": 2,
                "jobs": 4})
    profile.write_text(yaml.safe_dump(cfg))
    return proj


def _run(proj: Path, cluster: Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    # timeout -k: the plugin may ignore SIGTERM when it cannot reach accounting.
    return snakemake(proj, "--workflow-profile", "profiles/slurm", "--verbose", *args, check=check,
                     python=CLUSTER_PYTHON, env={"SLURM_CONF": str(cluster.conf)}, timeout=RUN_TIMEOUT_S + 30)


@pytest.mark.slow
def test_tiny_config_through_slurm_matches_the_local_run(cluster, project, tmp_path):
    proj = _slurm_project(tmp_path / "slurm", cluster)
    out = _run(proj, cluster)
    log = out.stdout + out.stderr
    jobs = cluster.sacct()
    assert jobs and all(j["state"] == "COMPLETED" for j in jobs), jobs
    comments = " ".join(j["comment"] for j in jobs)
    # Every rule that does work went through sbatch. The plugin's comment is rule_<rule>_wildcards_... for a
    # job, rule_<group>_<rule> for a group job (e.g. rule_sweep_small_sweep_run).
    for rule in ("make_task", "sweep_run", "fit_frontier", "plot_frontier", "optimal_run", "fit_lhat",
                 "collapse_stats", "plot_curves", "plot_collapse", "plot_deviation"):
        assert f"rule_{rule}" in comments or f"_small_{rule}" in comments, (rule, comments)
    # The small training jobs were grouped: fewer submissions than training jobs.
    sweeps = [j for j in jobs if "sweep_run" in j["comment"]]
    assert 0 < len(sweeps) < len(TINY["tasks"]["fourier"]["sweep"]["widths"]), sweeps
    # gpu=1 became --gpus=1 on the training submissions, and SLURM gave them a (fake) GPU.
    assert "--gpus=1" in log
    assert all("gres/gpu=1" in j["tres"] for j in sweeps), sweeps
    # Same results as the local run of the same config (the session's tiny run, conftest.py).
    for rel in ("fourier/sweep/w8.parquet", "fourier/optimal/runs/w12.parquet", "fourier/optimal/statistics.parquet"):
        a, b = pl.read_parquet(proj / "results" / rel), pl.read_parquet(project / "results" / rel)
        assert a.equals(b), rel
    assert (proj / "results/fourier/optimal/summary.json").read_text() == \
        (project / "results/fourier/optimal/summary.json").read_text()


@pytest.mark.slow
def test_a_failing_job_is_reported_as_failed(cluster, tmp_path):
    proj = _slurm_project(tmp_path / "failing", cluster)
    # A task whose data stage cannot succeed: make_task fails inside its SLURM job.
    script = proj / "workflow" / "scripts" / "make_task.py"
    script.write_text("raise SystemExit('deliberate failure for the SLURM test')\n")
    start = time.monotonic()
    out = _run(proj, cluster, "--until", "make_task", check=False)
    assert out.returncode != 0
    assert time.monotonic() - start < RUN_TIMEOUT_S
    assert "Error in rule make_task" in out.stdout + out.stderr
    # It failed for the deliberate reason, inside its SLURM job.
    job_logs = " ".join(p.read_text() for p in (proj / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert "deliberate failure for the SLURM test" in job_logs
    assert any(j["state"] == "FAILED" and "rule_make_task" in j["comment"] for j in cluster.sacct())
