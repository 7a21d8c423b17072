"""Thin adapter: rule coord_check -> supercollapse.train.stage.run_coord_check."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.devices import claim_device  # noqa: E402

# Before JAX is imported: on a multi-device host, take a free device and hide the others (held until exit).
claim_device("tpu" if snakemake.resources.get("tpu", 0) else "gpu")

from supercollapse.workflow import limit_cpu_threads, share_accelerator_memory  # noqa: E402

limit_cpu_threads(snakemake.threads)
share_accelerator_memory()

from supercollapse.train.stage import run_coord_check  # noqa: E402

run_coord_check(snakemake.wildcards.task, snakemake.params.task, snakemake.params.coord, dict(snakemake.input.items()),
                snakemake.output[0])
