"""Thin adapter: rules sweep_run, optimal_run and schedule_run -> supercollapse.train.stage."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.workflow import start_device_job  # noqa: E402

start_device_job(snakemake.resources, snakemake.threads)  # before JAX is imported: claims a free device

from supercollapse.io import read_json  # noqa: E402
from supercollapse.train.checkpoint import CheckpointPolicy, checkpoint_dir  # noqa: E402
from supercollapse.train.engine import resolve_devices  # noqa: E402
from supercollapse.train.stage import model_params, run_job, run_spec, tokens_per_step  # noqa: E402

w = snakemake.wildcards
task = snakemake.params.task
# A schedule-study run has one width for the whole study (config schedules.width), no width wildcard.
width = int(snakemake.params.study["width"]) if snakemake.rule == "schedule_run" else int(w.width)
inputs = dict(snakemake.input.items())  # named as in supercollapse.train.stage.INPUTS for the task's kind
# A transformer's vocabulary size and sequence length come from its data (meta.json).
meta = read_json(inputs["meta"]) if task["kind"] == "transformer" else None
extra = {"code_hash": snakemake.params.code}
if snakemake.rule == "sweep_run":
    sweep = snakemake.params.sweep
    spec = run_spec(w.task, task, "sweep", width, sweep["steps"], sweep["seeds"], sweep["schedule"], 1.0, meta=meta)
elif snakemake.rule == "schedule_run":
    study = snakemake.params.study
    steps = study["steps"]
    if steps is None:
        from supercollapse.analysis.frontier import HorizonFit, horizon_steps  # noqa: E402

        fit = HorizonFit.from_dict(read_json(snakemake.input.horizon))
        steps = horizon_steps(fit, model_params(task, width, meta), tokens_per_step(task, meta),
                              study["horizon_scale"])
    spec = run_spec(w.task, task, "schedules", width, steps, study["seeds"], w.schedule, float(w.decay), meta=meta,
                    noise_examples=study["noise_examples"], noise_chunk=study["noise_chunk"],
                    first_seed=study["first_seed"])
else:
    from supercollapse.analysis.frontier import HorizonFit, horizon_compute, horizon_steps  # noqa: E402

    horizon = read_json(snakemake.input.horizon)
    fit = HorizonFit.from_dict(horizon)
    study = snakemake.params.study
    params = model_params(task, width, meta)
    steps = horizon_steps(fit, params, tokens_per_step(task, meta), study["horizon_scale"], study["gamma_scale"])
    spec = run_spec(w.task, task, w.study, width, steps, snakemake.params.seeds, study["schedule"],
                    study["decay_frac"], lr_reference_width=study["lr_reference_width"], meta=meta)
    extra["horizon"] = {"kappa": fit.kappa, "gamma": fit.gamma,
                        "optimal_compute": horizon_compute(fit, params, study["gamma_scale"]),
                        "horizon_scale": study["horizon_scale"], "gamma_scale": study["gamma_scale"]}
# Execution settings, not in the rule's params (changing them must not retrain): the checkpoint cadence, the
# device count, which changes the curves only by summation order, and the data placement, which feeds the same
# inputs (the checkpoint fingerprint holds both).
cfg = snakemake.config
policy = CheckpointPolicy(checkpoint_dir(cfg["results"], snakemake.output[0]), **cfg["checkpoint"])
devices = resolve_devices(cfg["tasks"][w.task]["devices"])
run_job(spec, {k: v for k, v in inputs.items() if k != "horizon"}, snakemake.output[0], extra_meta=extra,
        checkpoint=policy, devices=devices, eval_sequences=task["data"].get("eval_sequences"),
        data_placement=cfg["tasks"][w.task]["data_placement"])
