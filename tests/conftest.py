import os

# Tests run JAX on the CPU with one thread per process, deterministic and small.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")


import pytest  # noqa: E402

from helpers import TINY, copy_project, snakemake, write_config  # noqa: E402


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """The tiny config run end to end once per session, in a copy of the project tree (tests/helpers.py).

    Shared by the workflow and report tests; a test that edits the copy restores it."""
    proj = copy_project(tmp_path_factory.mktemp("proj"))
    write_config(proj, TINY)
    snakemake(proj, "--cores", "2")
    return proj
