"""Thin adapter: rule fit_noise_model -> supercollapse.analysis.noise_stage.noise_model_stage."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.analysis.noise_stage import noise_model_stage  # noqa: E402

runs = [(path, schedule, decay) for path, (schedule, decay) in zip(snakemake.input.runs, snakemake.params.runs)]
noise_model_stage(runs, snakemake.output.alpha, snakemake.output.rmse, snakemake.output.predictions,
                  snakemake.wildcards.task, snakemake.params.n_boot, snakemake.params.seed,
                  extra={"code_hash": snakemake.params.code, "study": snakemake.params.study})
