"""Thin adapter: rule coord_check -> supercollapse.stages.train.coord_check_run."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.workflow import start_device_job  # noqa: E402

start_device_job(snakemake.resources, snakemake.threads)  # before JAX is imported: claims a free device

from supercollapse.stages.train import coord_check_run  # noqa: E402

coord_check_run(snakemake.wildcards.task, snakemake.params.task, snakemake.params.coord, dict(snakemake.input.items()),
                snakemake.output[0])
