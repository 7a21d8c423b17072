# External tasks (kind: external): runs trained elsewhere, read from files (src/supercollapse/external/) into the
# CURVES table once per (task, role); the analysis rules then run on them as on trained runs. No training rule is
# ever scheduled for such a task: sweep_runs and study_runs name these imports instead.


rule import_runs:
    """One role's files (sweep or collapse) of an external task, checked, as CURVES (schemas.py)."""
    input:
        external_files,
    output:
        curves=f"{R}/{{task}}/import/{{role}}.parquet",
        record=f"{R}/{{task}}/import/{{role}}.json",
    log:
        f"{R}/logs/{{task}}/import_{{role}}.log",
    wildcard_constraints:
        task=task_pattern("external"),
        role="sweep|collapse",
    conda:
        ENV
    params:
        role=external_role,
        checksums=lambda w: checksums(external_files(w)),
        code=code_hash("external"),
    script:
        "../workflow/scripts/import_runs.py"


rule run_end_horizon:
    """Horizons of an external task without a sweep: C*(P) through where its compute-optimal runs end."""
    input:
        f"{R}/{{task}}/import/collapse.parquet",
    output:
        horizon=f"{R}/{{task}}/frontier/horizon.json",
    log:
        f"{R}/logs/{{task}}/run_end_horizon.log",
    wildcard_constraints:
        task=names_pattern([task for task in tasks_of_kind("external") if not has_sweep(task)]),
    conda:
        ENV
    params:
        code=code_hash("external"),
    script:
        "../workflow/scripts/run_end_horizon.py"
