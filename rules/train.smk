rule optimal_run:
    """Compute-optimal run of one collapse width: horizon from the frontier fit, all seeds in one job."""
    input:
        unpack(task_data),
        horizon=rules.fit_frontier.output.horizon,
    output:
        f"{R}/{{task}}/{{study}}/runs/w{{width}}.parquet",
    params:
        task=lambda w: train_slice(w.task),
        study=lambda w: study_cfg(w.study),
        seeds=lambda w: task_cfg(w.task)["collapse"]["seeds"],
        code=code_hash("train"),
    threads: config["threads_per_job"]
    resources:
        gpu=1,
        runtime=train_runtime,
        mem_mb=train_mem_mb,
    group:
        train_group
    log:
        f"{R}/logs/{{task}}/{{study}}/w{{width}}.log",
    benchmark:
        f"{R}/benchmarks/{{task}}/{{study}}/w{{width}}.tsv"
    conda:
        ENV
    script:
        "../workflow/scripts/train_run.py"
