"""Thin adapter: rule theory_curves -> supercollapse.stages.analysis.theory_stage."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.stages.analysis import theory_stage  # noqa: E402

theory_stage(snakemake.output[0], **snakemake.params.theory)
