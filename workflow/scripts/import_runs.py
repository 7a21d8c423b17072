"""Thin adapter: rule import_runs -> supercollapse.stages.external.import_stage."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.stages.external import import_stage  # noqa: E402

w = snakemake.wildcards
import_stage(w.task, w.role, snakemake.params.role, snakemake.output.curves, snakemake.output.record)
