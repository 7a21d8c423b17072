"""Checks of the config beyond its JSON schema (workflow/schemas/config.schema.yaml), run once by the
Snakefile before any job: relations between keys that a schema cannot state. Each error names the key."""

from __future__ import annotations

import re

from .analysis.theory import PowerLawTerm, collapse_gamma
from .kinds import kind_of
from .plan import sweep_steps

# Task and study names become folder names and wildcards.
NAME_PATTERN = r"[A-Za-z0-9_\-]+"


def check_config(config: dict) -> None:
    """Raise ValueError naming the key of the first inconsistency in `config` (already schema-validated)."""
    for key in ("tasks", "studies"):
        for name in config[key]:
            if not re.fullmatch(NAME_PATTERN, str(name)):
                raise ValueError(f"{key}.{name}: names may hold only letters, digits, '_' and '-' "
                                 "(they become folder names and wildcards)")
    for name, task in config["tasks"].items():
        _check_task(name, task)
    try:
        collapse_gamma([PowerLawTerm(**term) for term in config["theory"]["terms"]])
    except ValueError as err:
        raise ValueError(f"theory.terms: {err}") from None
    a = config["analysis"]
    if not a["x_grid_min"] <= a["x_min"] < a["x_max"] <= a["x_grid_max"]:
        raise ValueError("analysis: expected x_grid_min <= x_min < x_max <= x_grid_max, got "
                         f"{a['x_grid_min']}, {a['x_min']}, {a['x_max']}, {a['x_grid_max']}")
    _check_schedules(config)


def _check_task(name: str, task: dict) -> None:
    sweep, warmup = task["sweep"], task["optim"]["warmup_steps"]
    extra = sorted(set(map(int, sweep["steps_by_width"])) - set(sweep["widths"]))
    if extra:
        raise ValueError(f"tasks.{name}.sweep.steps_by_width: widths {extra} are not in tasks.{name}.sweep.widths "
                         f"{sweep['widths']}")
    for width in sweep["widths"]:
        steps = sweep_steps(task, width)
        if warmup >= steps:
            raise ValueError(f"tasks.{name}.optim.warmup_steps ({warmup}) must be smaller than the sweep length "
                             f"of width {width} ({steps}, tasks.{name}.sweep.steps or steps_by_width)")
    if len(sweep["widths"]) < 3:
        raise ValueError(f"tasks.{name}.sweep.widths needs >= 3 widths for a frontier, got {sweep['widths']}")
    if len(task["collapse"]["widths"]) < 2:
        raise ValueError(f"tasks.{name}.collapse.widths needs >= 2 widths for a collapse, "
                         f"got {task['collapse']['widths']}")


def schedule_tasks(config: dict) -> list[str]:
    """Tasks the LR-schedule study runs on (none unless schedules.enabled)."""
    sched = config["schedules"]
    if not sched["enabled"]:
        return []
    tasks = list(config["tasks"]) if sched["tasks"] is None else list(sched["tasks"])
    unknown = sorted(set(tasks) - set(config["tasks"]))
    if unknown:
        raise ValueError(f"schedules.tasks: unknown tasks {unknown}; config key tasks has {sorted(config['tasks'])}")
    return tasks


def _check_schedules(config: dict) -> None:
    sched = config["schedules"]
    if not sched["enabled"]:
        return
    if "const" not in sched["schedules"]:
        raise ValueError("schedules.schedules must include 'const': the noise model predicts every scheduled "
                         f"curve from the constant-LR run, got {sched['schedules']}")
    if len(sched["schedules"]) < 2:
        raise ValueError("schedules.schedules needs a schedule beside 'const'")
    for name in schedule_tasks(config):
        task = config["tasks"][name]
        warmup = task["optim"]["warmup_steps"]
        n_eval = task["data"].get(kind_of(task).eval_key)
        if n_eval is not None and sched["noise_examples"] > n_eval:
            raise ValueError(f"schedules.noise_examples ({sched['noise_examples']}) exceeds the {n_eval} evaluation "
                             f"examples of task {name} (the noise trace uses the first noise_examples of them)")
        if sched["steps"] is not None and warmup >= sched["steps"]:
            raise ValueError(f"schedules.steps ({sched['steps']}) must exceed tasks.{name}.optim.warmup_steps "
                             f"({warmup})")
