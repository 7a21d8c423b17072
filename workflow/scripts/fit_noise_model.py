"""Thin adapter: rule fit_noise_model -> supercollapse.stages.analysis.noise_model_stage."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.stages.analysis import noise_model_stage  # noqa: E402

p, out = snakemake.params, snakemake.output
runs = [(path, schedule, decay) for path, (schedule, decay) in zip(snakemake.input.runs, p.runs)]
noise_model_stage(runs, out.alpha, out.rmse, out.predictions, snakemake.wildcards.task, p.n_boot, p.seed,
                  extra={"code_hash": p.code, "study": p.study})
