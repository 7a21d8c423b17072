# Every figure: (output under results/ without the extension, its inputs, report category, report label).
# One rule per figure, plot_<name>, generated below; the script draws it with supercollapse.plots.FIGURES[name].
# Captions: workflow/report/<name>.rst, with the numbers they quote read from the same inputs.
FIGURES = {
    "frontier": (
        "{task}/figures/frontier",
        dict(sweep=sweep_runs, envelope=rules.fit_frontier.output.envelope, horizon=rules.fit_frontier.output.horizon),
        "Frontier",
        "frontier",
    ),
    "curves": (
        "{task}/{study}/figures/curves",
        dict(runs=study_runs, envelope=task_envelope, lhat=rules.fit_lhat.output[0]),
        "Compute-optimal runs",
        "curves",
    ),
    "collapse": (
        "{task}/{study}/figures/collapse",
        dict(normalized=rules.collapse_stats.output.normalized, summary=rules.collapse_stats.output.summary),
        "Collapse",
        "collapse",
    ),
    "deviation": (
        "{task}/{study}/figures/deviation",
        dict(
            statistics=rules.collapse_stats.output.statistics,
            summary=rules.collapse_stats.output.summary,
            sensitivity=rules.collapse_stats.output.sensitivity,
        ),
        "Supercollapse",
        "deviation",
    ),
    "prediction": (
        "{task}/{study}/figures/prediction",
        dict(runs=study_runs, table=rules.predict.output.table, scores=rules.predict.output.scores),
        "Prediction",
        "prediction",
    ),
    "theory": ("theory/theory", dict(curves=rules.theory_curves.output[0]), "Theory", "theory"),
    "studies": ("{task}/figures/studies", dict(studies=rules.study_summary.output[0]), "Supercollapse", "studies"),
    "noise_model": (
        "{task}/schedules/figures/noise_model",
        dict(predictions=rules.fit_noise_model.output.predictions, alpha=rules.fit_noise_model.output.alpha),
        "Noise model",
        "noise model",
    ),
    "coord_check": (
        "{task}/figures/coord_check",
        dict(coord=rules.coord_check.output[0]),
        "µP coordinate check",
        "coord_check",
    ),
}


for name, (path, inputs, category, label) in FIGURES.items():
    keys = [k for k in ("task", "study") if f"{{{k}}}" in path]
    log_dir = "".join(f"{{{k}}}/" for k in keys)

    rule:
        name:
            f"plot_{name}"
        input:
            **inputs,
        output:
            report(
                f"{R}/{path}.{PLOT_EXT}",
                caption=f"../workflow/report/{name}.rst",
                category=category,
                labels={**{k: f"{{{k}}}" for k in keys}, "figure": label},
            ),
        log:
            f"{R}/logs/{log_dir}plot_{name}.log",
        conda:
            ENV
        params:
            figure=name,
            plots=config["plots"],
            code=code_hash("plots"),
            numbers=caption_params(name) if name != "coord_check" else None,
        script:
            "../workflow/scripts/plot.py"


rule summary_table:
    """Every fit and statistic of every task and study on one page: Parquet, Markdown, and HTML for the report."""
    input:
        horizon=expand(f"{R}/{{task}}/frontier/horizon.json", task=list(config["tasks"])),
        studies=expand(f"{R}/{{task}}/studies.parquet", task=list(config["tasks"])),
        summary=every_task_study(f"{R}/{{task}}/{{study}}/summary.json"),
        lhat=every_task_study(f"{R}/{{task}}/{{study}}/lhat.json"),
        sensitivity=every_task_study(f"{R}/{{task}}/{{study}}/lhat_sensitivity.parquet"),
        prediction=every_task_study(f"{R}/{{task}}/{{study}}/prediction_scores.json"),
        # The SGD-noise model's alpha and RMSEs, only for the tasks the LR-schedule study runs on (none when off).
        alpha=[f"{R}/{task}/schedules/alpha.json" for task in schedule_tasks(config)],
    output:
        table=f"{R}/summary/summary.parquet",
        markdown=f"{R}/summary/summary.md",
        html=report(
            f"{R}/summary/summary.html",
            caption="../workflow/report/summary.rst",
            category="Summary",
            labels={"table": "summary"},
        ),
    log:
        f"{R}/logs/summary_table.log",
    conda:
        ENV
    params:
        tasks=list(config["tasks"]),
        pairs=task_study_pairs(),
        noise_tasks=schedule_tasks(config),
        threshold=config["analysis"]["collapse_threshold"],
        code=code_hash("summary"),
    script:
        "../workflow/scripts/summary_table.py"
