rule plot_frontier:
    input:
        sweep=sweep_runs,
        envelope=rules.fit_frontier.output.envelope,
        horizon=rules.fit_frontier.output.horizon,
    output:
        report(
            f"{R}/{{task}}/figures/frontier.{PLOT_EXT}",
            caption="../workflow/report/frontier.rst",
            category="Frontier",
            labels={"task": "{task}", "figure": "frontier"},
        ),
    params:
        plots=config["plots"],
        code=code_hash("plots"),
        numbers=caption_numbers("frontier"),
    log:
        f"{R}/logs/{{task}}/plot_frontier.log",
    conda:
        ENV
    script:
        "../workflow/scripts/plot.py"


rule plot_curves:
    input:
        runs=study_runs,
        envelope=rules.fit_frontier.output.envelope,
        lhat=rules.fit_lhat.output[0],
    output:
        report(
            f"{R}/{{task}}/{{study}}/figures/curves.{PLOT_EXT}",
            caption="../workflow/report/curves.rst",
            category="Compute-optimal runs",
            labels={"task": "{task}", "study": "{study}", "figure": "curves"},
        ),
    params:
        plots=config["plots"],
        code=code_hash("plots"),
        numbers=caption_numbers("curves"),
    log:
        f"{R}/logs/{{task}}/{{study}}/plot_curves.log",
    conda:
        ENV
    script:
        "../workflow/scripts/plot.py"


rule plot_collapse:
    input:
        normalized=rules.collapse_stats.output.normalized,
        summary=rules.collapse_stats.output.summary,
    output:
        report(
            f"{R}/{{task}}/{{study}}/figures/collapse.{PLOT_EXT}",
            caption="../workflow/report/collapse.rst",
            category="Collapse",
            labels={"task": "{task}", "study": "{study}", "figure": "collapse"},
        ),
    params:
        plots=config["plots"],
        code=code_hash("plots"),
        numbers=caption_numbers("collapse"),
    log:
        f"{R}/logs/{{task}}/{{study}}/plot_collapse.log",
    conda:
        ENV
    script:
        "../workflow/scripts/plot.py"


rule plot_deviation:
    input:
        statistics=rules.collapse_stats.output.statistics,
        summary=rules.collapse_stats.output.summary,
        sensitivity=rules.collapse_stats.output.sensitivity,
    output:
        report(
            f"{R}/{{task}}/{{study}}/figures/deviation.{PLOT_EXT}",
            caption="../workflow/report/deviation.rst",
            category="Supercollapse",
            labels={"task": "{task}", "study": "{study}", "figure": "deviation"},
        ),
    params:
        plots=config["plots"],
        code=code_hash("plots"),
        numbers=caption_numbers("deviation"),
    log:
        f"{R}/logs/{{task}}/{{study}}/plot_deviation.log",
    conda:
        ENV
    script:
        "../workflow/scripts/plot.py"


rule plot_theory:
    input:
        curves=rules.theory_curves.output[0],
    output:
        report(
            f"{R}/theory/theory.{PLOT_EXT}",
            caption="../workflow/report/theory.rst",
            category="Theory",
            labels={"figure": "theory"},
        ),
    params:
        plots=config["plots"],
        code=code_hash("plots"),
        numbers=caption_numbers("theory"),
    log:
        f"{R}/logs/plot_theory.log",
    conda:
        ENV
    script:
        "../workflow/scripts/plot.py"


rule plot_studies:
    input:
        studies=rules.study_summary.output[0],
    output:
        report(
            f"{R}/{{task}}/figures/studies.{PLOT_EXT}",
            caption="../workflow/report/studies.rst",
            category="Supercollapse",
            labels={"task": "{task}", "figure": "studies"},
        ),
    params:
        plots=config["plots"],
        code=code_hash("plots"),
        numbers=caption_numbers("studies"),
    log:
        f"{R}/logs/{{task}}/plot_studies.log",
    conda:
        ENV
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
        # The SGD-noise model's alpha and RMSEs, only for the tasks the LR-schedule study runs on (none when off).
        alpha=[f"{R}/{task}/schedules/alpha.json" for task in schedule_tasks()],
    output:
        table=f"{R}/summary/summary.parquet",
        markdown=f"{R}/summary/summary.md",
        html=report(
            f"{R}/summary/summary.html",
            caption="../workflow/report/summary.rst",
            category="Summary",
            labels={"table": "summary"},
        ),
    params:
        tasks=list(config["tasks"]),
        studies=list(config["studies"]),
        noise_tasks=schedule_tasks(),
        code=code_hash("summary"),
    log:
        f"{R}/logs/summary_table.log",
    conda:
        ENV
    script:
        "../workflow/scripts/summary_table.py"
