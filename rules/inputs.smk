# Input and params functions of the rules in the other files (snakemake --lint: functions and rules live in
# separate files). Config lookups and targets: common.smk.
import os

from supercollapse.data.download import raw_files
from supercollapse.external.sources import checksums, source_files, tracked_files


# data.smk
def tokenize_threads():
    """A process per core; threads_per_job where the core count is unknown (a cluster run given --jobs)."""
    from snakemake_interface_common.exceptions import WorkflowError

    try:
        return workflow.cores
    except WorkflowError:
        return config["threads_per_job"]


def raw_manifests(wildcards):
    return [f"{path}.manifest.json" for path in raw_files(task_cfg(wildcards.task)["data"], DL)]


def download_checksum(path):
    """Expected sha256 of a download from `download.checksums` (keyed by the path under `downloads`)."""
    return config["download"]["checksums"].get(os.path.relpath(path, DL))


# external.smk
def external_role(wildcards):
    """The config slice one import depends on: its files' block, the renames, the compute units, the policy."""
    t = task_cfg(wildcards.task)
    return {"files": t[wildcards.role], **{k: t[k] for k in ("columns", "compute", "drop_diverged")}}


def external_files(wildcards):
    """The files of a role (TensorBoard folders stand for their event files), and their sha256 as a rerun trigger:
    a changed file reruns its import and everything downstream of it, even where its mtime says otherwise."""
    return tracked_files(source_files(task_cfg(wildcards.task)[wildcards.role], f"tasks.{wildcards.task}"))


# prediction.smk
def predict_widths(wildcards):
    """The widths to predict (a rerun trigger: a change reruns only the predictions and what shows them)."""
    return task_cfg(wildcards.task)["collapse"]["predict_widths"]


def predict_pairs(wildcards, input):
    """(width, params) of each width to predict: an external task gives the parameter counts, a trained task's
    model has them (a transformer's once its data's meta.json exists)."""
    t, widths = task_cfg(wildcards.task), predict_widths(wildcards)
    if not kind_of(t).trains:
        return [(int(w), int(p)) for w, p in widths.items()]
    meta = read_json(existing(input.meta, "the task's data")) if kind_of(t).tokenized and widths else None
    return [(w, plan.model_params(t, w, meta)) for w in widths]


def prediction_inputs(wildcards):
    sweep = {"sweep": sweep_runs(wildcards)} if has_sweep(wildcards.task) else {}
    return {**task_meta(wildcards), **sweep, "runs": study_runs(wildcards)}


# collapse.smk
def task_meta(wildcards):
    """The data's meta.json of a trained task (the L_hat fit reads its entropy floor); none for an external one."""
    return {"meta": f"{R}/{wildcards.task}/data/meta.json"} if kind_of(task_cfg(wildcards.task)).trains else {}


# report.smk
def task_envelope(wildcards):
    """The sweep's envelope (drawn under the compute-optimal curves) where the task has a sweep."""
    return f"{R}/{wildcards.task}/frontier/envelope.parquet" if has_sweep(wildcards.task) else []


# schedules.smk
def schedule_runs(wildcards):
    return [f"{R}/{wildcards.task}/schedules/runs/{s}-d{d:g}.parquet" for s, d in plan.schedule_runs(SCHED)]


def schedule_run_inputs(wildcards):
    horizon = {} if SCHED["steps"] is not None else {"horizon": rules.fit_frontier.output.horizon}
    return {**task_data(wildcards), **horizon}
