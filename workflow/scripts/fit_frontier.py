"""Thin adapter: rule fit_frontier -> supercollapse.analysis.stage.frontier_stage."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.analysis.stage import frontier_stage  # noqa: E402

frontier_stage(list(snakemake.input), snakemake.output.horizon, snakemake.output.envelope,
               snakemake.params.n_grid, extra={"code_hash": snakemake.params.code},
               n_boot=snakemake.params.n_boot, seed=snakemake.params.seed, truncated=snakemake.params.truncated)
