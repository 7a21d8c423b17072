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
    log:
        f"{R}/logs/{{task}}/{{study}}/plot_curves.log",
    conda:
        ENV
    script:
        "../workflow/scripts/plot.py"


rule plot_collapse:
    input:
        normalized=rules.collapse_stats.output.normalized,
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
    log:
        f"{R}/logs/{{task}}/plot_studies.log",
    conda:
        ENV
    script:
        "../workflow/scripts/plot.py"
