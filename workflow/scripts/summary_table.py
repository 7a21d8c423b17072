"""Thin adapter: rule summary_table -> supercollapse.stages.report.write_summary."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.stages.report import write_summary  # noqa: E402

i, o = snakemake.input, snakemake.output
write_summary(snakemake.params.tasks, snakemake.params.pairs,
              {k: list(getattr(i, k)) for k in ("horizon", "studies", "summary", "lhat", "sensitivity", "prediction",
                                                "alpha")},
              o.table, o.markdown, o.html, noise_tasks=snakemake.params.noise_tasks,
              threshold=snakemake.params.threshold)
