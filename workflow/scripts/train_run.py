"""Thin adapter: rules sweep_run, optimal_run and schedule_run -> supercollapse.stages.train.train_run.

The three differ only in their run's plan (supercollapse.plan), which the rule passes as a param."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.workflow import start_device_job  # noqa: E402

start_device_job(snakemake.resources, snakemake.threads)  # before JAX is imported: claims a free device

from supercollapse.stages.train import train_run  # noqa: E402

p = snakemake.params
train_run(p.plan, p.task, dict(snakemake.input.items()), snakemake.output[0], p.execution, p.code)
