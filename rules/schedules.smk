# The LR-schedule study and the SGD-noise model (DESIGN §3, config key `schedules`): one width trained at one
# horizon under every (schedule, decay_frac), seeds paired across runs, the noise trace Tr(P^-1 Sigma) logged at
# evaluation points; one alpha per task predicts every scheduled curve from the constant-LR curve at equal tau.
SCHEDULE_KEYS = ("width", "steps", "horizon_scale", "seeds", "first_seed", "noise_examples", "noise_chunk")


rule schedule_run:
    """One (schedule, decay_frac) of the schedule study: all seeds, noise trace at every evaluation."""
    input:
        unpack(schedule_run_inputs),
    output:
        f"{R}/{{task}}/schedules/runs/{{schedule}}-d{{decay}}.parquet",
    log:
        f"{R}/logs/{{task}}/schedules/{{schedule}}-d{{decay}}.log",
    benchmark:
        f"{R}/benchmarks/{{task}}/schedules/{{schedule}}-d{{decay}}.tsv"
    wildcard_constraints:
        schedule="|".join(SCHED["schedules"]),
        decay=r"[0-9.]+",
    conda:
        ENV
    threads: config["threads_per_job"]
    resources:
        gpu=1,
        runtime=lambda w, input: run_plan(w, input).runtime_min,
        mem_mb=run_mem_mb,
    params:
        task=lambda w: train_slice(w.task),
        study={k: SCHED[k] for k in SCHEDULE_KEYS},
        code=code_hash("train"),
        plan=lambda w, input: run_plan(w, input).to_dict(),
        execution=execution,
    script:
        "../workflow/scripts/train_run.py"


rule fit_noise_model:
    """One alpha per task, pooled over every schedule, with a seed-bootstrap CI; RMSEs vs the equal-tau baseline."""
    input:
        runs=schedule_runs,
    output:
        alpha=f"{R}/{{task}}/schedules/alpha.json",
        rmse=f"{R}/{{task}}/schedules/rmse.parquet",
        predictions=f"{R}/{{task}}/schedules/predictions.parquet",
    log:
        f"{R}/logs/{{task}}/fit_noise_model.log",
    conda:
        ENV
    params:
        runs=plan.schedule_runs(SCHED),
        study={k: SCHED[k] for k in SCHEDULE_KEYS},
        n_boot=SCHED["n_boot"],
        seed=config["analysis"]["seed"],
        code=code_hash("analysis"),
    script:
        "../workflow/scripts/fit_noise_model.py"
