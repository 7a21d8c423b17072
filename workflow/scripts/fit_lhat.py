"""Thin adapter: rule fit_lhat -> supercollapse.analysis.stage.lhat_stage."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.analysis.stage import lhat_stage  # noqa: E402

lhat_stage(list(snakemake.input.runs), snakemake.output[0], snakemake.params.delta, snakemake.params.n_boot,
           snakemake.params.seed, meta_path=snakemake.input.meta)
