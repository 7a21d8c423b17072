"""Thin adapter: the plot_* rules -> supercollapse.plots."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse import plots  # noqa: E402

i, out, cfg = snakemake.input, snakemake.output[0], snakemake.params.plots
if snakemake.rule == "plot_frontier":
    plots.frontier_figure(list(i.sweep), i.envelope, i.horizon, out, cfg)
elif snakemake.rule == "plot_curves":
    plots.curves_figure(list(i.runs), i.envelope, i.lhat, out, cfg)
elif snakemake.rule == "plot_collapse":
    plots.collapse_figure(i.normalized, out, cfg)
elif snakemake.rule == "plot_deviation":
    plots.deviation_figure(i.statistics, i.summary, i.sensitivity, out, cfg)
elif snakemake.rule == "plot_studies":
    plots.studies_figure(i.studies, out, cfg)
elif snakemake.rule == "plot_theory":
    plots.theory_figure(i.curves, out, cfg)
elif snakemake.rule == "plot_noise_model":
    plots.noise_model_figure(i.predictions, i.alpha, out, cfg)
elif snakemake.rule == "plot_coord_check":
    plots.coord_figure(i.coord, out, cfg)
else:
    raise ValueError(f"plot.py does not know rule {snakemake.rule!r}")
