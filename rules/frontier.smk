rule sweep_run:
    """Constant-LR run of one sweep width, all seeds in one job."""
    input:
        unpack(task_data),
    output:
        f"{R}/{{task}}/sweep/w{{width}}.parquet",
    log:
        f"{R}/logs/{{task}}/sweep/w{{width}}.log",
    benchmark:
        f"{R}/benchmarks/{{task}}/sweep/w{{width}}.tsv"
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
        sweep=sweep_params,
        code=code_hash("train"),
        plan=lambda w, input: run_plan(w, input).to_dict(),
        execution=execution,
    script:
        "../workflow/scripts/train_run.py"


rule fit_frontier:
    """Lower envelope of the sweep and the horizon fit C*(P) = (P / kappa)^(1 + gamma)."""
    input:
        sweep_runs,
    output:
        horizon=f"{R}/{{task}}/frontier/horizon.json",
        envelope=f"{R}/{{task}}/frontier/envelope.parquet",
    log:
        f"{R}/logs/{{task}}/fit_frontier.log",
    wildcard_constraints:
        task=names_pattern([task for task in config["tasks"] if has_sweep(task)]),
    conda:
        ENV
    params:
        n_grid=config["analysis"]["frontier_grid"],
        n_boot=config["analysis"]["frontier_bootstrap"],
        truncated=lambda w: task_cfg(w.task)["sweep"]["truncated"],
        points=lambda w: task_cfg(w.task)["sweep"]["points"],
        seed=config["analysis"]["seed"],
        code=code_hash("analysis"),
    script:
        "../workflow/scripts/fit_frontier.py"
