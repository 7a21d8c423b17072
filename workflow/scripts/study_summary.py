"""Thin adapter: rule study_summary -> supercollapse.stages.analysis.studies_stage."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.stages.analysis import studies_stage  # noqa: E402

studies_stage(snakemake.wildcards.task, list(snakemake.input), snakemake.params.studies, snakemake.output[0])
