# The µP coordinate check of each transformer task (config key `coord_check`): a few steps at several widths,
# the RMS of every layer's activations at each step. Cheap, but not part of the default target unless
# coord_check.in_default_target; `snakemake coord_checks` makes every task's figure.
rule coord_check:
    """Activation RMS per layer, width and step (Parquet, schema COORD_CHECK)."""
    input:
        unpack(task_data),
    output:
        f"{R}/{{task}}/coord/coord_check.parquet",
    wildcard_constraints:
        task=task_pattern("transformer"),
    params:
        task=lambda w: train_slice(w.task),
        coord=config["coord_check"],
        code=code_hash("train"),
    threads: config["threads_per_job"]
    resources:
        gpu=1,
    log:
        f"{R}/logs/{{task}}/coord_check.log",
    conda:
        ENV
    script:
        "../workflow/scripts/coord_check.py"


rule plot_coord_check:
    input:
        coord=rules.coord_check.output[0],
    output:
        report(
            f"{R}/{{task}}/figures/coord_check.{PLOT_EXT}",
            caption="../workflow/report/coord_check.rst",
            category="µP coordinate check",
            labels={"task": "{task}", "figure": "coord_check"},
        ),
    params:
        plots=config["plots"],
        code=code_hash("plots"),
    log:
        f"{R}/logs/{{task}}/plot_coord_check.log",
    conda:
        ENV
    script:
        "../workflow/scripts/plot.py"


rule coord_checks:
    """Target: the coordinate-check figure of every transformer task."""
    input:
        coord_check_targets(),
