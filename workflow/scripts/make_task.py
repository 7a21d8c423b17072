"""Thin adapter: rule make_task -> supercollapse.stages.fourier_task.make_fourier_task."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.stages.fourier_task import make_fourier_task  # noqa: E402

make_fourier_task(snakemake.params.data, snakemake.output.target, snakemake.output.evalset, snakemake.output.meta)
