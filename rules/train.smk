rule optimal_run:
    """Compute-optimal run of one collapse width: horizon from the frontier fit, all seeds in one job."""
    input:
        unpack(task_data),
        horizon=rules.fit_frontier.output.horizon,
    output:
        f"{R}/{{task}}/{{study}}/runs/w{{width}}.parquet",
    log:
        f"{R}/logs/{{task}}/{{study}}/w{{width}}.log",
    benchmark:
        f"{R}/benchmarks/{{task}}/{{study}}/w{{width}}.tsv"
    group:
        train_group
    conda:
        ENV
    threads: config["threads_per_job"]
    resources:
        gpu=1,
        runtime=lambda w, input: run_plan(w, input).runtime_min,
        mem_mb=run_mem_mb,
    params:
        task=lambda w: train_slice(w.task),
        study=lambda w: study_cfg(w.study),
        seeds=lambda w: task_cfg(w.task)["collapse"]["seeds"],
        code=code_hash("train"),
        plan=lambda w, input: run_plan(w, input).to_dict(),
        execution=execution,
    script:
        "../workflow/scripts/train_run.py"
