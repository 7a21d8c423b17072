# Config lookups, target lists, wildcard constraints and code-hash params. No rules here.
import os
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


def sweep_steps(task, width):
    """Updates of one sweep run: sweep.steps_by_width[width] if given, else sweep.steps."""
    sweep = task_cfg(task)["sweep"]
    by_width = {int(k): int(v) for k, v in sweep["steps_by_width"].items()}
    return by_width.get(int(width), int(sweep["steps"]))


def sweep_params(task, width):
    """The settings one sweep run depends on, passed as its params, so a change reruns only the runs it touches."""
    sweep = task_cfg(task)["sweep"]
    return {"steps": sweep_steps(task, width), "seeds": sweep["seeds"], "schedule": sweep["schedule"]}


def _check_config():
    for key in ("tasks", "studies"):
        for name in config[key]:
            if not re.fullmatch(NAME_PATTERN, str(name)):
                raise ValueError(f"{key}.{name}: names may hold only letters, digits, '_' and '-' "
                                 "(they become folder names and wildcards)")
    for name, t in config["tasks"].items():
        warmup = t["optim"]["warmup_steps"]
        extra = sorted(set(map(int, t["sweep"]["steps_by_width"])) - set(t["sweep"]["widths"]))
        if extra:
            raise ValueError(f"tasks.{name}.sweep.steps_by_width: widths {extra} are not in tasks.{name}.sweep.widths "
                             f"{t['sweep']['widths']}")
        for width in t["sweep"]["widths"]:
            steps = sweep_steps(name, width)
            if warmup >= steps:
                raise ValueError(f"tasks.{name}.optim.warmup_steps ({warmup}) must be smaller than the sweep length "
                                 f"of width {width} ({steps}, tasks.{name}.sweep.steps or steps_by_width)")
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


# ---- data of each task kind: which rule makes it, which files training reads ---------------------------------
DL = config["downloads"]


def tasks_of_kind(kind):
    return [name for name, t in config["tasks"].items() if t["kind"] == kind]


def task_pattern(kind):
    """Wildcard constraint matching exactly the tasks of `kind` (nothing when there are none), so that
    make_task and tokenize, which both write {task}/data/meta.json, never compete for a task."""
    names = tasks_of_kind(kind)
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def task_data(wildcards):
    """Input function: the data artifacts of a task, by kind (fourier_mlp: target/evalset/meta;
    transformer: train/test/meta, the token contract)."""
    base = f"{R}/{wildcards.task}/data"
    if task_cfg(wildcards.task)["kind"] == "transformer":
        return {"train": f"{base}/train.parquet", "test": f"{base}/test.parquet", "meta": f"{base}/meta.json"}
    return {"target": f"{base}/target.parquet", "evalset": f"{base}/eval.parquet", "meta": f"{base}/meta.json"}


def tokenize_threads():
    """Tokenization runs a process per core over games or images: every core of a local run. A run without a
    core count (a cluster executor given only --jobs, where asking for workflow.cores raises) gets
    threads_per_job."""
    from snakemake_interface_common.exceptions import WorkflowError

    try:
        return workflow.cores
    except WorkflowError:
        return config["threads_per_job"]


def raw_files(task):
    """Downloaded files a transformer task tokenizes, as paths under `downloads` (none for offline_chess).
    Each download job's output is the file's manifest (the file itself is kept out of Snakemake's hands,
    so a rerun of the rule never deletes a multi-GB download; the script finds it present and verified)."""
    from supercollapse.data.lichess import shard_relpath

    d = task_cfg(task)["data"]
    if d["source"] == "lichess":
        return [f"{DL}/lichess/{shard_relpath(d['month'], s, d['n_shards'])}" for s in d["shards"]]
    if d["source"] == "cifar5m":
        return [f"{DL}/cifar5m/cifar5m_part{p}.npz" for p in d["parts"]]
    return []


def raw_manifests(wildcards):
    return [f"{path}.manifest.json" for path in raw_files(wildcards.task)]


def download_checksum(path):
    """Expected sha256 of a download from `download.checksums` (keyed by the path under `downloads`)."""
    rel = os.path.relpath(path, DL)
    return config["download"]["checksums"].get(rel)


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


def every_task_study(pattern):
    """`pattern` for every (task, study), task-major (the order supercollapse.summary expects)."""
    return expand(pattern, task=list(config["tasks"]), study=list(config["studies"]))


def caption_numbers(figure):
    """A params function: the numbers a figure's caption quotes, read from its rule's inputs.

    A missing input makes Snakemake show <TBD> and call it again once the inputs exist (before the job
    runs, and when it builds the report). Params derived from input are not rerun triggers."""

    def numbers(wildcards, input):
        import errno
        import os

        from supercollapse.summary import caption_numbers as read_numbers

        for path in input:
            if not os.path.exists(path):
                raise FileNotFoundError(errno.ENOENT, "input not made yet", path)
        return read_numbers(figure, dict(input.items()))

    return numbers


def all_targets():
    targets = [f"{R}/theory/theory.{PLOT_EXT}", f"{R}/summary/summary.parquet", f"{R}/summary/summary.md"]
    for task in config["tasks"]:
        targets.append(f"{R}/{task}/figures/frontier.{PLOT_EXT}")
        targets.append(f"{R}/{task}/figures/studies.{PLOT_EXT}")
        for study in config["studies"]:
            base = f"{R}/{task}/{study}"
            targets += [f"{base}/summary.json"] + [
                f"{base}/figures/{name}.{PLOT_EXT}" for name in ("curves", "collapse", "deviation")]
    return targets


def coord_check_targets():
    """The µP coordinate-check figure of every transformer task (rules/coord.smk)."""
    return [f"{R}/{task}/figures/coord_check.{PLOT_EXT}" for task in tasks_of_kind("transformer")]


# Cluster resources of the training rules, from each job's FLOPs (supercollapse.jobsize). A rule asks
# only for gpu=1; profiles map that to their executor. Evaluated when a job's resources are needed only.
def task_meta(task, input=None):
    """A transformer task's data meta.json (vocab_size, seq_len; None for other kinds), from the job's
    `input` when given. Until the data is tokenized the read raises FileNotFoundError, which Snakemake
    shows as <TBD> in a resource function given `input` and evaluates again before submission."""
    if task_cfg(task)["kind"] != "transformer":
        return None
    import errno
    import os

    from supercollapse.io import read_json

    path = input.meta if input is not None else f"{R}/{task}/data/meta.json"
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "data not tokenized yet", path)
    return read_json(path)


def job_flops(task, width, seeds, steps, meta=None):
    """FLOPs of a training job of `task` at `width` (all seeds), attention included for a transformer."""
    from supercollapse.train.stage import model_params  # imports JAX, so not at parse time

    t = task_cfg(task)
    params = model_params(t, width, meta)
    if t["kind"] != "transformer":
        return jobsize.train_flops(params, steps, t["optim"]["batch_size"], seeds, t["n_evals"],
                                   t["data"]["eval_size"])
    context = meta["seq_len"] - 1
    return jobsize.train_flops(params, steps, t["optim"]["batch_size"], seeds, t["n_evals"],
                               t["data"]["eval_sequences"], context,
                               jobsize.attention_flops_per_token(t["model"]["depth"], width, context))


def job_mem_mb(task, width, seeds, meta=None):
    """Host memory (MB) of a training job of `task` at `width` (all seeds)."""
    from supercollapse.train.stage import model_params

    t = task_cfg(task)
    m, batch = t["model"], t["optim"]["batch_size"]
    params = model_params(t, width, meta)
    if t["kind"] != "transformer":
        return jobsize.mem_mb(params, seeds, batch, width, m["depth"], m["expansion"], t["data"]["eval_size"])
    return jobsize.transformer_mem_mb(params, seeds, batch, width, m["depth"], m["expansion"], meta["seq_len"] - 1,
                                      meta["vocab_size"], m["head_dim"])


def _train_seeds(wildcards):
    """Seeds of a training job; optimal runs are the ones with a study wildcard."""
    t = task_cfg(wildcards.task)
    return t["collapse"]["seeds"] if "study" in wildcards.keys() else t["sweep"]["seeds"]


def _train_steps(wildcards, input, meta):
    """Updates of a job. A compute-optimal run's come from the horizon fit: until fit_frontier has run the
    read raises FileNotFoundError, which Snakemake shows as <TBD> and evaluates again before submission."""
    t = task_cfg(wildcards.task)
    if "study" not in wildcards.keys():
        return sweep_steps(wildcards.task, wildcards.width)
    import errno
    import os

    from supercollapse.analysis.frontier import HorizonFit, horizon_steps
    from supercollapse.io import read_json
    from supercollapse.train.stage import model_params, tokens_per_step

    if not os.path.exists(input.horizon):
        raise FileNotFoundError(errno.ENOENT, "horizon fit not made yet", input.horizon)
    horizon = read_json(input.horizon)
    fit = HorizonFit.from_dict(horizon)
    study = study_cfg(wildcards.study)
    params = model_params(t, int(wildcards.width), meta)
    return horizon_steps(fit, params, tokens_per_step(t, meta), study["horizon_scale"], study["gamma_scale"])


def train_runtime(wildcards, input):
    meta = task_meta(wildcards.task, input)
    steps = _train_steps(wildcards, input, meta)
    return jobsize.runtime_minutes(job_flops(wildcards.task, int(wildcards.width), _train_seeds(wildcards), steps,
                                             meta))


def train_mem_mb(wildcards, input):
    return job_mem_mb(wildcards.task, int(wildcards.width), _train_seeds(wildcards), task_meta(wildcards.task, input))


def train_group(wildcards):
    """Small jobs share cluster submissions (how many: `group-components` in the profile). Sized at the
    sweep's length for both rules: a horizon is not known when the DAG is built, and lies within the range
    of compute the sweep covered."""
    kind = "optimal" if "study" in wildcards.keys() else "sweep"
    try:
        meta = task_meta(wildcards.task)
    except FileNotFoundError:
        return None  # a transformer task's size is unknown until its data is tokenized: not grouped
    flops = job_flops(wildcards.task, int(wildcards.width), _train_seeds(wildcards),
                      max(sweep_steps(wildcards.task, w) for w in task_cfg(wildcards.task)["sweep"]["widths"]), meta)
    return f"{kind}_small" if jobsize.is_small_job(flops) else None


# The LR-schedule study (rules/schedules.smk, config key `schedules`).
SCHED = config["schedules"]
SCHEDULE_KEYS = ("width", "steps", "horizon_scale", "seeds", "first_seed", "noise_examples", "noise_chunk")


def _check_schedules():
    if not SCHED["enabled"]:
        return
    if "const" not in SCHED["schedules"]:
        raise ValueError("schedules.schedules must include 'const': the noise model predicts every scheduled "
                         f"curve from the constant-LR run, got {SCHED['schedules']}")
    if len(SCHED["schedules"]) < 2:
        raise ValueError("schedules.schedules needs a schedule beside 'const'")
    for task in schedule_tasks():
        warmup = task_cfg(task)["optim"]["warmup_steps"]
        data = task_cfg(task)["data"]
        n_eval = data.get("eval_size") if task_cfg(task)["kind"] == "fourier_mlp" else data.get("eval_sequences")
        if n_eval is not None and SCHED["noise_examples"] > n_eval:
            raise ValueError(f"schedules.noise_examples ({SCHED['noise_examples']}) exceeds the {n_eval} evaluation "
                             f"examples of task {task} (the noise trace uses the first noise_examples of them)")
        if SCHED["steps"] is not None and warmup >= SCHED["steps"]:
            raise ValueError(f"schedules.steps ({SCHED['steps']}) must exceed tasks.{task}.optim.warmup_steps "
                             f"({warmup})")


def schedule_tasks():
    """Tasks the schedule study runs on (none unless schedules.enabled)."""
    if not SCHED["enabled"]:
        return []
    tasks = list(config["tasks"]) if SCHED["tasks"] is None else list(SCHED["tasks"])
    unknown = sorted(set(tasks) - set(config["tasks"]))
    if unknown:
        raise ValueError(f"schedules.tasks: unknown tasks {unknown}; config key tasks has {sorted(config['tasks'])}")
    return tasks


def decay_label(decay_frac):
    return f"{float(decay_frac):g}"


def schedule_run_list():
    """(schedule, decay_frac) of every run: 'const' once (its decay fraction does not matter), every other
    schedule at every decay fraction."""
    runs = [("const", 1.0)] if "const" in SCHED["schedules"] else []
    return runs + [(s, float(d)) for s in SCHED["schedules"] if s != "const" for d in SCHED["decay_fracs"]]


def schedule_runs(wildcards):
    return [f"{R}/{wildcards.task}/schedules/runs/{s}-d{decay_label(d)}.parquet" for s, d in schedule_run_list()]


def schedule_targets():
    targets = []
    for task in schedule_tasks():
        targets += [f"{R}/{task}/schedules/alpha.json", f"{R}/{task}/schedules/figures/noise_model.{PLOT_EXT}"]
    return targets


def schedule_run_inputs(wildcards):
    inputs = dict(task_data(wildcards))
    if SCHED["steps"] is None:
        inputs["horizon"] = rules.fit_frontier.output.horizon
    return inputs


def _schedule_steps(wildcards, input):
    """Updates of every run of the study: schedules.steps, or the frontier fit's horizon at the width."""
    if SCHED["steps"] is not None:
        return SCHED["steps"]
    import errno
    import os

    from supercollapse.analysis.frontier import HorizonFit, horizon_steps
    from supercollapse.io import read_json
    from supercollapse.train.stage import model_params, tokens_per_step

    if not os.path.exists(input.horizon):
        raise FileNotFoundError(errno.ENOENT, "horizon fit not made yet", input.horizon)
    t = task_cfg(wildcards.task)
    meta = task_meta(wildcards.task, input)
    return horizon_steps(HorizonFit.from_dict(read_json(input.horizon)), model_params(t, SCHED["width"], meta),
                         tokens_per_step(t, meta), SCHED["horizon_scale"])


def schedule_runtime(wildcards, input):
    from supercollapse.train.stage import model_params, tokens_per_step

    t = task_cfg(wildcards.task)
    meta = task_meta(wildcards.task, input)
    params = model_params(t, SCHED["width"], meta)
    flops = job_flops(wildcards.task, SCHED["width"], SCHED["seeds"], _schedule_steps(wildcards, input), meta)
    # The noise trace: a forward and backward pass per example at every evaluation.
    examples_tokens = tokens_per_step(t, meta) // t["optim"]["batch_size"]
    flops += 6.0 * params * SCHED["noise_examples"] * examples_tokens * t["n_evals"] * SCHED["seeds"]
    return jobsize.runtime_minutes(flops)


def schedule_mem_mb(wildcards, input):
    from supercollapse.train.stage import model_params

    meta = task_meta(wildcards.task, input)
    params = model_params(task_cfg(wildcards.task), SCHED["width"], meta)
    # Per-example gradients of one chunk per seed, on top of a training job's memory.
    extra = 4 * params * SCHED["noise_chunk"] * SCHED["seeds"] * jobsize.SAFETY / 1e6
    return job_mem_mb(wildcards.task, SCHED["width"], SCHED["seeds"], meta) + 256 * int(-(-extra // 256))


def noise_caption_numbers(wildcards, input):
    """The numbers the noise-model caption quotes, from alpha.json (<TBD> until it exists)."""
    import errno
    import os

    from supercollapse.io import read_json

    if not os.path.exists(input.alpha):
        raise FileNotFoundError(errno.ENOENT, "alpha.json not made yet", input.alpha)
    fit = read_json(input.alpha)
    oos = fit["out_of_sample"]
    return {"alpha": f"{fit['alpha']:.3f}", "ci": f"[{fit['alpha_ci'][0]:.3f}, {fit['alpha_ci'][1]:.3f}]",
            "seeds": fit["n_seeds"], "ratio": f"{fit['pooled']['ratio']:.1f}",
            "rmse_model": f"{fit['pooled']['rmse_model']:.3g}", "rmse_baseline": f"{fit['pooled']['rmse_baseline']:.3g}",
            "ratio_oos": "n/a" if oos.get("ratio") is None else f"{oos['ratio']:.1f}",
            # .get: an alpha.json of older code (rebuilt later in the same run) must not break the DAG.
            "ratio_seed_mean": f"{fit.get('seed_mean_curves', {}).get('ratio', float('nan')):.1f}",
            "by_run": ", ".join(f"{k} {v:.3f}" for k, v in fit["alpha_by_run"].items())}


_check_schedules()
