"""Thin adapter: rule predict -> supercollapse.stages.prediction.prediction_stage."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.stages.prediction import prediction_stage  # noqa: E402

i, p = snakemake.input, snakemake.params
prediction_stage(list(i.runs), list(i.get("sweep", [])), i.horizon, i.get("meta"), snakemake.output.table,
                 snakemake.output.scores, study=p.study, predict=[tuple(x) for x in p.pairs], holdout=p.holdout,
                 delta=p.delta, n_boot=p.n_boot, **p.analysis)
