"""Checks of the config beyond its JSON schema (workflow/schemas/config.schema.yaml), run once by the
Snakefile before any job: relations between keys that a schema cannot state, and what the local machine can
run (only when the jobs run on it). Each error names the key. docs/errors.md lists them."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from .analysis.theory import PowerLawTerm, collapse_gamma
from .devices import host_memory_mb, local_devices
from .external.sources import checked_collapse_widths
from .io import read_json
from .kinds import kind_of
from .plan import job_memory_check, run_mem_mb, sweep_steps

# Task and study names become folder names and wildcards.
NAME_PATTERN = r"[A-Za-z0-9_\-]+"


def check_config(config: dict, workdir: str | os.PathLike = ".") -> None:
    """Raise ValueError naming the key of the first inconsistency in `config` (already schema-validated)."""
    _check_finite(config, "")
    _check_results(config["results"], workdir)
    for key in ("tasks", "studies"):
        for name in config[key]:
            if not re.fullmatch(NAME_PATTERN, str(name)):
                raise ValueError(f"{key}.{name}: names may hold only letters, digits, '_' and '-' "
                                 "(they become folder names and wildcards)")
    for name, task in config["tasks"].items():
        if kind_of(task).trains:
            _check_task(name, task)
        else:
            check_external(name, task, workdir)
    for name, study in config["studies"].items():
        if study["decay_frac"] == 0 and study["schedule"] != "const":
            raise ValueError(f"studies.{name}.decay_frac is 0 with schedule {study['schedule']!r}: that trains at "
                             "constant LR under another name; set schedule: const, or a decay_frac above 0")
    try:
        collapse_gamma([PowerLawTerm(**term) for term in config["theory"]["terms"]])
    except ValueError as err:
        raise ValueError(f"theory.terms: {err}") from None
    a = config["analysis"]
    if not a["x_grid_min"] <= a["x_min"] < a["x_max"] <= a["x_grid_max"]:
        raise ValueError("analysis: expected x_grid_min <= x_min < x_max <= x_grid_max, got "
                         f"{a['x_grid_min']}, {a['x_min']}, {a['x_max']}, {a['x_grid_max']}")
    _check_schedules(config)


def _check_finite(node, key: str) -> None:
    """NaN and infinity pass a schema's bounds (every comparison with NaN is false): no config number may be one."""
    if isinstance(node, dict):
        for k, v in node.items():
            _check_finite(v, f"{key}.{k}" if key else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_finite(v, f"{key}[{i}]")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ValueError(f"{key}: expected a finite number, got {node}")


def _check_results(results: str, workdir) -> None:
    """`results` must name a folder of its own: not empty, not the filesystem root, not the working folder."""
    path = Path(workdir, results).resolve() if results.strip() else None
    if path is None or path == Path(path.anchor) or path == Path(workdir).resolve():
        where = "nowhere" if path is None else f"{path}, beside everything else there"
        raise ValueError(f"results: expected a folder of its own for the artifacts (default 'results'), got "
                         f"{results!r}: the task folders would go to {where}")


def check_external(name: str, task: dict, workdir: str | os.PathLike = ".") -> None:
    """An external task's files, read and checked as the import will (external/contract.py), before any job."""
    study = task["collapse"]["study"]
    if not re.fullmatch(NAME_PATTERN, study):
        raise ValueError(f"tasks.{name}.collapse.study: names may hold only letters, digits, '_' and '-', got "
                         f"{study!r}")
    trained = checked_collapse_widths(name, task, workdir)
    _predicted_not_trained(f"tasks.{name}", [int(w) for w in task["collapse"]["predict_widths"]], trained)


def _predicted_not_trained(key: str, predict: list[int], trained: list[int]) -> None:
    """collapse.predict_widths are widths never trained: a trained one is held out by analysis.holdout instead."""
    both = sorted(set(predict) & set(trained))
    if both:
        raise ValueError(f"{key}.collapse.predict_widths {both} are collapse widths with runs; predict_widths are "
                         "widths never trained (a trained width is predicted when held out: analysis.holdout)")


def _widths(key: str, widths: list) -> list[int]:
    """Widths are integers: 8.0 would name files w8.0.parquet that no rule makes."""
    bad = [w for w in widths if not isinstance(w, int) or isinstance(w, bool)]
    if bad:
        raise ValueError(f"{key}: widths are integers (model widths), got {bad}")
    return widths


def _check_task(name: str, task: dict) -> None:
    sweep, collapse, warmup = task["sweep"], task["collapse"], task["optim"]["warmup_steps"]
    key = f"tasks.{name}"
    sweep_widths = _widths(f"{key}.sweep.widths", sweep["widths"])
    collapse_widths = _widths(f"{key}.collapse.widths", collapse["widths"])
    bad_keys = [k for k in sweep["steps_by_width"] if not re.fullmatch(r"\d+", str(k))]
    if bad_keys:
        raise ValueError(f"{key}.sweep.steps_by_width: keys are sweep widths (integers), got {bad_keys}")
    extra = sorted(set(map(int, sweep["steps_by_width"])) - set(sweep_widths))
    if extra:
        raise ValueError(f"{key}.sweep.steps_by_width: widths {extra} are not in {key}.sweep.widths {sweep_widths}")
    for width in sweep_widths:
        steps = sweep_steps(task, width)
        if warmup >= steps:
            raise ValueError(f"{key}.optim.warmup_steps ({warmup}) must be smaller than the sweep length "
                             f"of width {width} ({steps}, {key}.sweep.steps or steps_by_width)")
    if len(sweep_widths) < 3:
        raise ValueError(f"{key}.sweep.widths needs >= 3 widths for a frontier, got {sweep_widths}")
    if len(collapse_widths) < 3:
        raise ValueError(f"{key}.collapse.widths needs >= 3 widths: the L_hat fit L = L_hat + a C^-b has 3 "
                         f"parameters, one end point per width; got {collapse_widths}")
    _predicted_not_trained(key, collapse["predict_widths"], collapse_widths)
    lo, hi, outside = _outside_sweep(task)
    if outside and not collapse["extrapolate"]:
        raise ValueError(f"{key}.collapse.widths {outside} lie outside the sweep's widths [{lo}, {hi}]: their "
                         f"horizons would be extrapolated from the frontier fit. Add them to {key}.sweep.widths, "
                         f"or set {key}.collapse.extrapolate: true")
    devices, batch = task["devices"], task["optim"]["batch_size"]
    if isinstance(devices, int) and batch % devices:
        raise ValueError(f"{key}.optim.batch_size ({batch}) must be divisible by {key}.devices ({devices}): each "
                         "device takes an equal share of every batch")


def _outside_sweep(task: dict) -> tuple[int, int, list[int]]:
    """The sweep's width range and the collapse widths outside it (whose horizons are extrapolated)."""
    lo, hi = min(task["sweep"]["widths"]), max(task["sweep"]["widths"])
    return lo, hi, [w for w in task["collapse"]["widths"] if not lo <= w <= hi]


def collapse_warnings(config: dict, task: str) -> list[str]:
    """What a task's collapse studies were allowed to do that weakens them: recorded in each study's
    summary.json and on the summary page."""
    if not kind_of(config["tasks"][task]).trains:
        return []
    lo, hi, outside = _outside_sweep(config["tasks"][task])
    if not outside:
        return []
    return [f"collapse widths {outside} lie outside the sweep's widths [{lo}, {hi}]: their horizons are "
            f"extrapolated from the frontier fit (tasks.{task}.collapse.extrapolate: true)"]


def check_machine(config: dict, workdir: str | os.PathLike = ".") -> None:
    """Raise ValueError, naming the key, where this machine cannot run the config's jobs (call it only when the
    jobs run here: Snakemake's local executor, not a dry run)."""
    for name, task in config["tasks"].items():
        if kind_of(task).trains:
            _check_local(name, task, workdir, config["results"])


def _check_local(name: str, task: dict, workdir, results: str) -> None:
    """What this machine can run, when the jobs run here: the device count, and each training job's memory
    (its estimate without the resource request's safety factor) against the host's memory. A transformer
    task's size is known once its data is tokenized (meta.json); until then its jobs check at their start."""
    available = local_devices()
    if isinstance(task["devices"], int) and task["devices"] > available:
        raise ValueError(f"tasks.{name}.devices is {task['devices']}, but this machine has {available} device(s) "
                         "for JAX; lower it (or 'all')")
    meta_path = Path(workdir, results, name, "data", "meta.json")
    if kind_of(task).tokenized and not meta_path.exists():
        return
    meta = read_json(meta_path) if kind_of(task).tokenized else None
    for role in ("sweep", "collapse"):
        seeds = task[role]["seeds"]
        for width in task[role]["widths"]:
            job_memory_check(f"tasks.{name}.{role}", task, width, seeds, run_mem_mb(task, width, seeds, meta),
                             host_memory_mb())


def schedule_tasks(config: dict) -> list[str]:
    """Tasks the LR-schedule study runs on (none unless schedules.enabled)."""
    sched = config["schedules"]
    if not sched["enabled"]:
        return []
    trained = [name for name, task in config["tasks"].items() if kind_of(task).trains]
    tasks = trained if sched["tasks"] is None else list(sched["tasks"])
    unknown = sorted(set(tasks) - set(config["tasks"]))
    if unknown:
        raise ValueError(f"schedules.tasks: unknown tasks {unknown}; config key tasks has {sorted(config['tasks'])}")
    external = sorted(set(tasks) - set(trained))
    if external:
        raise ValueError(f"schedules.tasks: {external} are external tasks; the schedule study trains its runs")
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
