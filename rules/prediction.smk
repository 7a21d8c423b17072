# Predictions (issue 15, docs/prediction.md): from a study's collapse, the whole loss curve of widths never
# trained (collapse.predict_widths) and of trained widths held out of every fit (analysis.holdout), scored
# against their runs beside a Chinchilla-form baseline. Adds no training job.
PREDICT_KEYS = ("x_min", "x_max", "x_grid_min", "x_grid_max", "n_x", "seed")


rule predict:
    """Predicted and held-out widths' loss curves with 95% bands, and their scores against the trained seeds."""
    input:
        unpack(prediction_inputs),
        horizon=f"{R}/{{task}}/frontier/horizon.json",
    output:
        table=f"{R}/{{task}}/{{study}}/predictions.parquet",
        scores=f"{R}/{{task}}/{{study}}/prediction_scores.json",
    log:
        f"{R}/logs/{{task}}/{{study}}/predict.log",
    wildcard_constraints:
        study=names_pattern(sorted({study for _, study in task_study_pairs()})),  # not schedules/predictions
    conda:
        ENV
    params:
        widths=predict_widths,
        pairs=predict_pairs,
        holdout=config["analysis"]["holdout"],
        study=lambda w: study_cfg(w.study) if kind_of(task_cfg(w.task)).trains else None,
        analysis={k: config["analysis"][k] for k in PREDICT_KEYS},
        delta=config["analysis"]["huber_delta"],
        n_boot=config["analysis"]["prediction_bootstrap"],
        code=code_hash("analysis"),
    script:
        "../workflow/scripts/predict.py"
