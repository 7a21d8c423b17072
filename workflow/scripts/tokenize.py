"""Thin adapter: rule tokenize -> supercollapse.stages.tokens.tokenize_task."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.stages.tokens import tokenize_task  # noqa: E402

out = snakemake.output
tokenize_task(dict(snakemake.params.data), list(snakemake.params.raw), out.train, out.test, out.meta,
              workers=snakemake.threads)
