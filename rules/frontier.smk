rule sweep_run:
    """Constant-LR run of one sweep width, all seeds in one job."""
    input:
        unpack(task_data),
    output:
        f"{R}/{{task}}/sweep/w{{width}}.parquet",
    params:
        task=lambda w: train_slice(w.task),
        sweep=lambda w: sweep_params(w.task, w.width),
        code=code_hash("train"),
    threads: config["threads_per_job"]
    resources:
        gpu=1,
        runtime=train_runtime,
        mem_mb=train_mem_mb,
    group:
        train_group
    log:
        f"{R}/logs/{{task}}/sweep/w{{width}}.log",
    benchmark:
        f"{R}/benchmarks/{{task}}/sweep/w{{width}}.tsv"
    conda:
        ENV
    script:
        "../workflow/scripts/train_run.py"


rule fit_frontier:
    """Lower envelope of the sweep and the horizon fit C*(P) = (P / kappa)^(1 + gamma)."""
    input:
        sweep_runs,
    output:
        horizon=f"{R}/{{task}}/frontier/horizon.json",
        envelope=f"{R}/{{task}}/frontier/envelope.parquet",
    params:
        n_grid=config["analysis"]["frontier_grid"],
        n_boot=config["analysis"]["frontier_bootstrap"],
        truncated=lambda w: task_cfg(w.task)["sweep"]["truncated"],
        seed=config["analysis"]["seed"],
        code=code_hash("analysis"),
    log:
        f"{R}/logs/{{task}}/fit_frontier.log",
    conda:
        ENV
    script:
        "../workflow/scripts/fit_frontier.py"
