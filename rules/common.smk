# Config lookups, target lists, wildcard constraints and code-hash params. No rules here.
import re
import sys
from pathlib import Path

# The workflow always uses the package beside it (also when a copy of the tree is run).
PACKAGE_SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(PACKAGE_SRC))
from supercollapse.analysis.theory import PowerLawTerm, collapse_gamma  # noqa: E402
from supercollapse.codehash import source_hash  # noqa: E402
from supercollapse import jobsize  # noqa: E402

R = config["results"]
PLOT_EXT = config["plots"]["format"]
ENV = "../environment.yml"


NAME_PATTERN = r"[A-Za-z0-9_\-]+"


wildcard_constraints:
    task=NAME_PATTERN,
    study=NAME_PATTERN,
    width=r"\d+",


def code_hash(family):
    """Hash of the package modules a rule family imports (Snakemake does not track imported code)."""
    return source_hash(PACKAGE_SRC / "supercollapse", family)


def task_cfg(task):
    if task not in config["tasks"]:
        raise ValueError(f"unknown task {task!r}; config key tasks has {sorted(config['tasks'])}")
    return config["tasks"][task]


def study_cfg(study):
    if study not in config["studies"]:
        raise ValueError(f"unknown study {study!r}; config key studies has {sorted(config['studies'])}")
    return config["studies"][study]


def train_slice(task):
    """The part of a task's config that every training job of the task depends on (no width lists)."""
    t = task_cfg(task)
    return {k: t[k] for k in ("kind", "data", "model", "optim", "n_evals", "seed_batching")}


def _check_config():
    for key in ("tasks", "studies"):
        for name in config[key]:
            if not re.fullmatch(NAME_PATTERN, str(name)):
                raise ValueError(f"{key}.{name}: names may hold only letters, digits, '_' and '-' "
                                 "(they become folder names and wildcards)")
    for name, t in config["tasks"].items():
        warmup, steps = t["optim"]["warmup_steps"], t["sweep"]["steps"]
        if warmup >= steps:
            raise ValueError(f"tasks.{name}.optim.warmup_steps ({warmup}) must be smaller than "
                             f"tasks.{name}.sweep.steps ({steps})")
        if len(t["sweep"]["widths"]) < 3:
            raise ValueError(f"tasks.{name}.sweep.widths needs >= 3 widths for a frontier, got {t['sweep']['widths']}")
        if len(t["collapse"]["widths"]) < 2:
            raise ValueError(f"tasks.{name}.collapse.widths needs >= 2 widths for a collapse, got {t['collapse']['widths']}")
    try:
        collapse_gamma([PowerLawTerm(**term) for term in config["theory"]["terms"]])
    except ValueError as err:
        raise ValueError(f"theory.terms: {err}") from None
    a = config["analysis"]
    if not a["x_grid_min"] <= a["x_min"] < a["x_max"] <= a["x_grid_max"]:
        raise ValueError("analysis: expected x_grid_min <= x_min < x_max <= x_grid_max, got "
                         f"{a['x_grid_min']}, {a['x_min']}, {a['x_max']}, {a['x_grid_max']}")


_check_config()


def sweep_runs(wildcards):
    return expand(f"{R}/{{task}}/sweep/w{{width}}.parquet", task=wildcards.task,
                  width=task_cfg(wildcards.task)["sweep"]["widths"])


def study_runs(wildcards):
    return expand(f"{R}/{{task}}/{{study}}/runs/w{{width}}.parquet", task=wildcards.task,
                  study=wildcards.study, width=task_cfg(wildcards.task)["collapse"]["widths"])


def study_summaries(wildcards):
    # A plain pattern, not rules.collapse_stats.output: those carry storage flags that expand() rejects
    # under a default storage provider (the kubernetes and googlebatch profiles).
    return expand(f"{R}/{{task}}/{{study}}/summary.json", task=wildcards.task, study=list(config["studies"]))


def all_targets():
    targets = [f"{R}/theory/theory.{PLOT_EXT}"]
    for task in config["tasks"]:
        targets.append(f"{R}/{task}/figures/frontier.{PLOT_EXT}")
        targets.append(f"{R}/{task}/figures/studies.{PLOT_EXT}")
        for study in config["studies"]:
            base = f"{R}/{task}/{study}"
            targets += [f"{base}/summary.json"] + [
                f"{base}/figures/{name}.{PLOT_EXT}" for name in ("curves", "collapse", "deviation")]
    return targets


# Cluster resources of the training rules, from each job's FLOPs (supercollapse.jobsize). A rule asks
# only for gpu=1; profiles map that to their executor. Evaluated when a job's resources are needed only.
def _train_job(wildcards):
    """(params, seeds, task config) of a training job; optimal runs are the ones with a study wildcard."""
    from supercollapse.train.stage import model_params  # imports JAX, so not at parse time

    t = task_cfg(wildcards.task)
    seeds = t["collapse"]["seeds"] if "study" in wildcards.keys() else t["sweep"]["seeds"]
    return model_params(t, int(wildcards.width)), seeds, t


def _train_flops(wildcards, steps):
    params, seeds, t = _train_job(wildcards)
    return jobsize.train_flops(params, steps, t["optim"]["batch_size"], seeds, t["n_evals"], t["data"]["eval_size"])


def _train_steps(wildcards, input):
    """Updates of a job. A compute-optimal run's come from the horizon fit: until fit_frontier has run the
    read raises FileNotFoundError, which Snakemake shows as <TBD> and evaluates again before submission."""
    t = task_cfg(wildcards.task)
    if "study" not in wildcards.keys():
        return t["sweep"]["steps"]
    import errno
    import os

    from supercollapse.analysis.frontier import HorizonFit, horizon_steps
    from supercollapse.io import read_json

    if not os.path.exists(input.horizon):
        raise FileNotFoundError(errno.ENOENT, "horizon fit not made yet", input.horizon)
    horizon = read_json(input.horizon)
    fit = HorizonFit.from_dict(horizon)
    study = study_cfg(wildcards.study)
    params, _, _ = _train_job(wildcards)
    return horizon_steps(fit, params, t["optim"]["batch_size"], study["horizon_scale"], study["gamma_scale"])


def train_runtime(wildcards, input):
    return jobsize.runtime_minutes(_train_flops(wildcards, _train_steps(wildcards, input)))


def train_mem_mb(wildcards):
    params, seeds, t = _train_job(wildcards)
    return jobsize.mem_mb(params, seeds, t["optim"]["batch_size"], int(wildcards.width), t["model"]["depth"],
                          t["model"]["expansion"], t["data"]["eval_size"])


def train_group(wildcards):
    """Small jobs share cluster submissions (how many: `group-components` in the profile). Sized at the
    sweep's length for both rules: a horizon is not known when the DAG is built, and lies within the range
    of compute the sweep covered."""
    kind = "optimal" if "study" in wildcards.keys() else "sweep"
    small = jobsize.is_small_job(_train_flops(wildcards, task_cfg(wildcards.task)["sweep"]["steps"]))
    return f"{kind}_small" if small else None
