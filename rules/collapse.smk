ANALYSIS_KEYS = ("x_min", "x_max", "x_grid_min", "x_grid_max", "n_x", "n_boot", "seed")


rule fit_lhat:
    """L = L_hat + a C^-b on the compute-optimal end points, with a seed-bootstrap CI (bounded below by the
    data's entropy floor where meta.json knows it)."""
    input:
        unpack(task_meta),
        runs=study_runs,
    output:
        f"{R}/{{task}}/{{study}}/lhat.json",
    log:
        f"{R}/logs/{{task}}/{{study}}/fit_lhat.log",
    conda:
        ENV
    params:
        delta=config["analysis"]["huber_delta"],
        n_boot=config["analysis"]["lhat_bootstrap"],
        seed=config["analysis"]["seed"],
        code=code_hash("analysis"),
    script:
        "../workflow/scripts/fit_lhat.py"


rule collapse_stats:
    """Normalized curves and the supercollapse statistics (Delta, sigma, ratios, ANOVA)."""
    input:
        runs=study_runs,
        lhat=rules.fit_lhat.output[0],
    output:
        normalized=f"{R}/{{task}}/{{study}}/normalized.parquet",
        statistics=f"{R}/{{task}}/{{study}}/statistics.parquet",
        summary=f"{R}/{{task}}/{{study}}/summary.json",
        sensitivity=f"{R}/{{task}}/{{study}}/lhat_sensitivity.parquet",
    log:
        f"{R}/logs/{{task}}/{{study}}/collapse_stats.log",
    conda:
        ENV
    params:
        analysis={k: config["analysis"][k] for k in ANALYSIS_KEYS},
        warnings=lambda w: collapse_warnings(config, w.task),
        code=code_hash("analysis"),
    script:
        "../workflow/scripts/collapse_stats.py"


rule study_summary:
    """Every study's collapse statistics of one task side by side (the ablation summary table)."""
    input:
        study_summaries,
    output:
        f"{R}/{{task}}/studies.parquet",
    log:
        f"{R}/logs/{{task}}/study_summary.log",
    conda:
        ENV
    params:
        studies=lambda w: task_studies(w.task),
        code=code_hash("analysis"),
    script:
        "../workflow/scripts/study_summary.py"
