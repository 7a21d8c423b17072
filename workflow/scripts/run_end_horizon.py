"""Thin adapter: rule run_end_horizon -> supercollapse.stages.external.run_end_horizon_stage."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.stages.external import run_end_horizon_stage  # noqa: E402

run_end_horizon_stage(snakemake.input[0], snakemake.output.horizon, extra={"code_hash": snakemake.params.code})
