"""Thin adapter: rule coord_check -> supercollapse.train.stage.run_coord_check."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.workflow import start_device_job  # noqa: E402

start_device_job(snakemake.resources, snakemake.threads)  # before JAX is imported: claims a free device

from supercollapse.train.stage import run_coord_check  # noqa: E402

run_coord_check(snakemake.wildcards.task, snakemake.params.task, snakemake.params.coord, dict(snakemake.input.items()),
                snakemake.output[0])
