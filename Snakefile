# supercollapse: scaling collapse of compute-optimal loss curves, end to end.
# Quick start: `make run` (creates .venv), or inside the environment `snakemake --cores all`.
import sys

from snakemake.utils import min_version, validate

min_version("9.0")
sys.path.insert(0, f"{workflow.basedir}/src")  # the package beside this workflow
from supercollapse.config_checks import check_config, check_machine  # noqa: E402
from supercollapse.config_loading import workflow_config  # noqa: E402
from supercollapse.provenance import Provenance  # noqa: E402

# The config files read strictly (src/supercollapse/config_loading.py) before Snakemake reads them its own way:
# syntax errors as file:line:column, duplicate keys rejected, 1e-3 a number. `config` is then that reading.
strict_config = workflow_config(workflow, "config/config.yaml")


configfile: "config/config.yaml"


config.clear()
config.update(strict_config)
validate(config, schema="workflow/schemas/config.schema.yaml")

check_config(config)


onstart:
    # What this machine can run (devices, memory), where the jobs run on it: not in a dry run, nor on a cluster.
    if workflow.local_exec:
        check_machine(config)


report: "workflow/report/workflow.rst"


include: "rules/common.smk"
include: "rules/inputs.smk"
include: "rules/data.smk"
include: "rules/frontier.smk"
include: "rules/external.smk"
include: "rules/train.smk"
include: "rules/collapse.smk"
include: "rules/prediction.smk"
include: "rules/theory.smk"
include: "rules/schedules.smk"
include: "rules/coord.smk"
include: "rules/report.smk"


# Results Snakemake has no metadata of (copied or restored without .snakemake/) are checked before any job against the
# record kept with them under results/provenance/ (src/supercollapse/provenance.py, docs/errors.md).
provenance = Provenance(workflow, config["results"])
provenance.install()


onsuccess:
    provenance.sync()


onerror:
    provenance.sync()


rule all:
    default_target: True
    input:
        all_targets(),
        schedule_targets(),
        coord_check_targets() if config["coord_check"]["in_default_target"] else [],
