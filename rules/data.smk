rule make_task:
    """Materialise the Fourier task: target function, fixed evaluation set, meta.json."""
    output:
        target=f"{R}/{{task}}/data/target.parquet",
        evalset=f"{R}/{{task}}/data/eval.parquet",
        meta=f"{R}/{{task}}/data/meta.json",
    params:
        data=lambda w: task_cfg(w.task)["data"],
        code=code_hash("data"),
    log:
        f"{R}/logs/{{task}}/make_task.log",
    conda:
        ENV
    script:
        "../workflow/scripts/make_task.py"
