"""Thin adapter: rule theory_curves -> supercollapse.analysis.theory.theory_stage."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.analysis.theory import theory_stage  # noqa: E402

theory_stage(snakemake.params.theory, snakemake.output[0])
