"""Thin adapter: rule fit_lhat -> supercollapse.stages.analysis.lhat_stage."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.stages.analysis import lhat_stage  # noqa: E402

p = snakemake.params
lhat_stage(list(snakemake.input.runs), snakemake.input.get("meta"), snakemake.output[0], p.delta, p.n_boot, p.seed)
