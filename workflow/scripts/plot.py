"""Thin adapter: the plot_<figure> rules (rules/report.smk) -> supercollapse.plots.FIGURES[figure]."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.plots import FIGURES  # noqa: E402

draw, reads = FIGURES[snakemake.params.figure]
inputs = {k: v if isinstance(v, str) else list(v) for k, v in snakemake.input.items()}
draw(*(inputs[name] for name in reads), snakemake.output[0], snakemake.params.plots)
