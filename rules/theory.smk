rule theory_curves:
    """Exact normalized curves of a sum of power laws at gamma*, and at the scaled exponents."""
    output:
        f"{R}/theory/curves.parquet",
    log:
        f"{R}/logs/theory_curves.log",
    conda:
        ENV
    params:
        theory=config["theory"],
        code=code_hash("analysis"),
    script:
        "../workflow/scripts/theory_curves.py"
