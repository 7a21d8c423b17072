"""Thin adapter: rule fit_frontier -> supercollapse.stages.analysis.frontier_stage."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.stages.analysis import frontier_stage  # noqa: E402

p = snakemake.params
frontier_stage(list(snakemake.input), snakemake.output.horizon, snakemake.output.envelope, p.n_grid, p.n_boot, p.seed,
               p.truncated, p.points, extra={"code_hash": p.code})
