# Config lookups, target lists, wildcard constraints, code-hash params and the plan lookups. No rules here.
# Checks of the config beyond its schema: supercollapse.config_checks, run once by the Snakefile.
import re
from functools import partial
from pathlib import Path

# The package beside the workflow (the Snakefile puts it first on sys.path).
PACKAGE_SRC = Path(workflow.basedir) / "src"
from supercollapse import plan  # noqa: E402
from supercollapse.analysis.horizon import HorizonFit  # noqa: E402
from supercollapse.codehash import source_hash  # noqa: E402
from supercollapse.config_checks import NAME_PATTERN, collapse_warnings, schedule_tasks  # noqa: E402
from supercollapse.external.contract import EXTERNAL_STUDY  # noqa: E402
from supercollapse.io import existing, read_json  # noqa: E402
from supercollapse.kinds import kind_of  # noqa: E402
from supercollapse.summary import caption_params  # noqa: E402

R = config["results"]
DL = config["downloads"]
PLOT_EXT = config["plots"]["format"]
SCHED = config["schedules"]
ENV = "../environment.yml"


wildcard_constraints:
    task=NAME_PATTERN,
    study=NAME_PATTERN,
    width=r"\d+",


def code_hash(family):
    """Hash of the package modules a rule family imports (Snakemake does not track imported code)."""
    return source_hash(PACKAGE_SRC / "supercollapse", family)


def named(key, name):
    """config[key][name] (key: tasks or studies), naming the choices when there is no such entry."""
    if name not in config[key]:
        raise ValueError(f"unknown {key[:-1]} {name!r}; config key {key} has {sorted(config[key])}")
    return config[key][name]


task_cfg, study_cfg = partial(named, "tasks"), partial(named, "studies")


def train_slice(task):
    """The part of a task's config that every training job of the task depends on (no width lists)."""
    return {k: task_cfg(task)[k] for k in ("kind", "data", "model", "optim", "n_evals", "seed_batching")}


def sweep_params(wildcards):
    """The sweep settings one run depends on (rerun triggers: a change reruns only the runs it touches)."""
    t = task_cfg(wildcards.task)
    steps = plan.sweep_steps(t, _width(t["sweep"]["widths"], wildcards))
    return {"steps": steps, "seeds": t["sweep"]["seeds"], "schedule": t["sweep"]["schedule"]}


def tasks_of_kind(kind):
    return [name for name, t in config["tasks"].items() if t["kind"] == kind]


def names_pattern(names):
    """Wildcard constraint matching exactly `names` (nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def task_pattern(kind):
    """The tasks of `kind`, so that rules writing the same file for different kinds never compete for a task."""
    return names_pattern(tasks_of_kind(kind))


def has_sweep(task):
    """A trained task always has a sweep; an external task where it gives one (else: horizons where runs end)."""
    return "sweep" in task_cfg(task)


def task_studies(task):
    """Study name -> study config of a task: every configured study for a trained task, the one study of an
    external task (its runs' schedule is not known to the workflow)."""
    t = task_cfg(task)
    return config["studies"] if kind_of(t).trains else {t["collapse"]["study"]: EXTERNAL_STUDY}


def task_data(wildcards):
    """Input function: the data files a training job reads (KINDS[kind].job_reads). A Fourier task's are fixed by the
    data config and code its jobs carry as params (train_slice, code_hash("train")): ancient, so that data made again
    (meta.json deleted) retrains nothing. A token task's follow its downloads and tokenizer: by file time."""
    kind = kind_of(task_cfg(wildcards.task))
    files = {name: f"{R}/{wildcards.task}/data/{kind.artifacts[name]}" for name in kind.job_reads}
    return files if kind.tokenized else {name: ancient(path) for name, path in files.items()}


def sweep_runs(wildcards):
    t = task_cfg(wildcards.task)
    if not kind_of(t).trains:
        return [f"{R}/{wildcards.task}/import/sweep.parquet"]
    return [f"{R}/{wildcards.task}/sweep/w{w}.parquet" for w in t["sweep"]["widths"]]


def study_runs(wildcards):
    t = task_cfg(wildcards.task)
    if not kind_of(t).trains:
        return [f"{R}/{wildcards.task}/import/collapse.parquet"]
    return [f"{R}/{wildcards.task}/{wildcards.study}/runs/w{w}.parquet" for w in t["collapse"]["widths"]]


def study_summaries(wildcards):
    # A plain pattern, not rules.collapse_stats.output: those carry storage flags that expand() rejects
    # under a default storage provider (the kubernetes and googlebatch profiles).
    return [f"{R}/{wildcards.task}/{study}/summary.json" for study in task_studies(wildcards.task)]


def task_study_pairs():
    """Every (task, study), task-major (the order supercollapse.summary expects)."""
    return [(task, study) for task in config["tasks"] for study in task_studies(task)]


def every_task_study(pattern):
    """`pattern` for every (task, study) of task_study_pairs."""
    return [pattern.format(task=task, study=study) for task, study in task_study_pairs()]


def all_targets():
    targets = [f"{R}/theory/theory.{PLOT_EXT}", f"{R}/summary/summary.parquet", f"{R}/summary/summary.md"]
    for task in config["tasks"]:
        targets += [f"{R}/{task}/data/meta.json"] if kind_of(task_cfg(task)).trains else []  # remade once deleted
        targets += [
            f"{R}/{task}/figures/{name}.{PLOT_EXT}"
            for name in ("frontier", "studies")
            if has_sweep(task) or name != "frontier"
        ]
        for study in task_studies(task):
            names = ("curves", "collapse", "deviation", "prediction")
            figures = [f"{R}/{task}/{study}/figures/{n}.{PLOT_EXT}" for n in names]
            targets += [f"{R}/{task}/{study}/summary.json", *figures]
    return targets


def schedule_targets():
    files = ("alpha.json", f"figures/noise_model.{PLOT_EXT}")
    return [f"{R}/{t}/schedules/{f}" for t in schedule_tasks(config) for f in files]


def coord_check_targets():
    """The µP coordinate-check figure of every transformer task (rules/coord.smk)."""
    return [f"{R}/{task}/figures/coord_check.{PLOT_EXT}" for task in tasks_of_kind("transformer")]


# The plan of each training job (supercollapse.plan): rules size jobs from it and pass it to the job. Functions
# of `input`/`output`: evaluated once the files exist, never rerun triggers (the config slices in params are).
def _width(widths, wildcards):
    """The config's width named by the `width` wildcard (an int from the config, not from the path)."""
    return {str(w): w for w in widths}[wildcards.width]


def _job(wildcards, meta_path):
    """(task config, data meta, width, seeds) of a training job; a transformer's meta once its data exists."""
    t = task_cfg(wildcards.task)
    meta = read_json(existing(meta_path, "the task's data")) if kind_of(t).tokenized else None
    if "schedule" in wildcards.keys():
        return t, meta, SCHED["width"], SCHED["seeds"]
    role = t["collapse" if "study" in wildcards.keys() else "sweep"]
    return t, meta, _width(role["widths"], wildcards), role["seeds"]


def run_plan(wildcards, input):
    """The RunPlan of the training job of these wildcards (sweep, compute-optimal or schedule-study run)."""
    (t, meta, width, _), fit = _job(wildcards, input.get("meta")), None
    if "horizon" in input.keys():
        fit = HorizonFit.from_dict(read_json(existing(input.horizon, "horizon fit")))
    if "schedule" in wildcards.keys():
        runs = {(s, f"{d:g}"): (s, d) for s, d in plan.schedule_runs(SCHED)}
        return plan.schedule_plan(wildcards.task, t, SCHED, *runs[wildcards.schedule, wildcards.decay], fit, meta)
    if "study" in wildcards.keys():
        return plan.optimal_plan(wildcards.task, t, wildcards.study, study_cfg(wildcards.study), width, fit, meta)
    return plan.sweep_plan(wildcards.task, t, width, meta)


def run_mem_mb(wildcards, input):
    """A training job's memory: it does not grow with the run's length, so it is known before the horizon."""
    t, meta, width, seeds = _job(wildcards, input.get("meta"))
    return plan.run_mem_mb(t, width, seeds, meta, SCHED if "schedule" in wildcards.keys() else None)


def execution(wildcards, output):
    """How a training job runs, not what it computes (a function of `output`: not a rerun trigger): the
    checkpoint cadence, the device count (summation order only) and the data placement (same inputs)."""
    t = task_cfg(wildcards.task)
    return dict(results=R, checkpoint=config["checkpoint"], devices=t["devices"], data_placement=t["data_placement"])


def train_group(wildcards):
    """Small jobs share cluster submissions (how many: `group-components` in the profile)."""
    try:
        t, meta, width, _ = _job(wildcards, f"{R}/{wildcards.task}/data/meta.json")
    except FileNotFoundError:
        return None  # a transformer task's size is unknown until its data is tokenized: not grouped
    return plan.job_group("optimal" if "study" in wildcards.keys() else "sweep", t, width, meta)
