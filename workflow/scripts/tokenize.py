"""Thin adapter: rule tokenize -> supercollapse.data.token_task.make_token_task."""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.data.token_task import make_token_task  # noqa: E402

meta = make_token_task(dict(snakemake.params.data), list(snakemake.params.raw), snakemake.output.train,
                       snakemake.output.test, snakemake.output.meta, workers=snakemake.threads)
logging.getLogger("tokenize").info("%s: %d train rows, %d test rows of %d tokens", meta["source"], meta["n_train"],
                                   meta["n_test"], meta["seq_len"])
