# Predictions (issue 15, docs/prediction.md): from a study's collapse, the whole loss curve of widths never
# trained (collapse.predict_widths) and of trained widths held out of every fit (analysis.holdout), scored
# against their runs beside a Chinchilla-form baseline. Adds no training job.
PREDICT_KEYS = ("x_min", "x_max", "x_grid_min", "x_grid_max", "n_x", "seed")


def predict_widths(wildcards):
    """The widths to predict (a rerun trigger: a change reruns only the predictions and what shows them)."""
    return task_cfg(wildcards.task)["collapse"]["predict_widths"]


def predict_pairs(wildcards, input):
    """(width, params) of each width to predict: an external task gives the parameter counts, a trained task's
    model has them (a transformer's once its data's meta.json exists)."""
    t, widths = task_cfg(wildcards.task), predict_widths(wildcards)
    if not kind_of(t).trains:
        return [(int(w), int(p)) for w, p in widths.items()]
    meta = read_json(existing(input.meta, "the task's data")) if kind_of(t).tokenized and widths else None
    return [(w, plan.model_params(t, w, meta)) for w in widths]


def prediction_inputs(wildcards):
    sweep = {"sweep": sweep_runs(wildcards)} if has_sweep(wildcards.task) else {}
    return {**task_meta(wildcards), **sweep, "runs": study_runs(wildcards)}


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
