# The µP coordinate check of each transformer task (config key `coord_check`): a few steps at several widths,
# the RMS of every layer's activations at each step. Cheap, but not part of the default target unless
# coord_check.in_default_target; `snakemake coord_checks` makes every task's figure.
rule coord_check:
    """Activation RMS per layer, width and step (Parquet, schema COORD_CHECK)."""
    input:
        unpack(task_data),
    output:
        f"{R}/{{task}}/coord/coord_check.parquet",
    log:
        f"{R}/logs/{{task}}/coord_check.log",
    wildcard_constraints:
        task=task_pattern("transformer"),
    conda:
        ENV
    threads: config["threads_per_job"]
    resources:
        gpu=1,
    params:
        task=lambda w: train_slice(w.task),
        coord=config["coord_check"],
        code=code_hash("train"),
    script:
        "../workflow/scripts/coord_check.py"


rule coord_checks:
    """Target: the coordinate-check figure of every transformer task."""
    input:
        coord_check_targets(),
