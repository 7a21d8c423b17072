"""Thin adapter: the plot_<figure> rules (rules/report.smk) -> supercollapse.plots.FIGURES[figure]."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.plots import FIGURES  # noqa: E402

inputs = [v if isinstance(v, str) else list(v) for _, v in snakemake.input.items()]
FIGURES[snakemake.params.figure](*inputs, snakemake.output[0], snakemake.params.plots)
