"""Thin adapter: rule collapse_stats -> supercollapse.stages.analysis.collapse_stage."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.stages.analysis import collapse_stage  # noqa: E402

out = snakemake.output
collapse_stage(list(snakemake.input.runs), snakemake.input.lhat, out.normalized, out.statistics, out.summary,
               out.sensitivity, warnings=snakemake.params.warnings, **snakemake.params.analysis)
