# Config lookups, target lists, wildcard constraints and code-hash params. No rules here.
import sys
from pathlib import Path

# The workflow always uses the package beside it (also when a copy of the tree is run).
PACKAGE_SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(PACKAGE_SRC))
from supercollapse.codehash import source_hash  # noqa: E402

R = config["results"]
PLOT_EXT = config["plots"]["format"]
ENV = "../environment.yml"


wildcard_constraints:
    task=r"[A-Za-z0-9_\-]+",
    study=r"[A-Za-z0-9_\-]+",
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
    for name, t in config["tasks"].items():
        warmup, steps = t["optim"]["warmup_steps"], t["sweep"]["steps"]
        if warmup >= steps:
            raise ValueError(f"tasks.{name}.optim.warmup_steps ({warmup}) must be smaller than "
                             f"tasks.{name}.sweep.steps ({steps})")
        if len(t["sweep"]["widths"]) < 3:
            raise ValueError(f"tasks.{name}.sweep.widths needs >= 3 widths for a frontier, got {t['sweep']['widths']}")
        if len(t["collapse"]["widths"]) < 2:
            raise ValueError(f"tasks.{name}.collapse.widths needs >= 2 widths for a collapse, got {t['collapse']['widths']}")
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


def all_targets():
    targets = []
    for task in config["tasks"]:
        targets.append(f"{R}/{task}/figures/frontier.{PLOT_EXT}")
        for study in config["studies"]:
            base = f"{R}/{task}/{study}"
            targets += [f"{base}/summary.json"] + [
                f"{base}/figures/{name}.{PLOT_EXT}" for name in ("curves", "collapse", "deviation")]
    return targets
