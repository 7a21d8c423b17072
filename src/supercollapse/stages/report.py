"""The report rules' jobs beyond the figures (plots.py draws those from their artifacts): the summary table."""

from __future__ import annotations

from ..io import write_table, write_text
from ..summary import html_page, markdown, read_summary_rows


def write_summary(tasks, pairs, inputs: dict, parquet_path, markdown_path, html_path, noise_tasks=(),
                  threshold: float = 2.0) -> None:
    """Rule summary_table: `pairs` every (task, study), task-major; `inputs` holds the path lists horizon,
    studies, summary, lhat, sensitivity, prediction (prediction_scores.json per pair), and alpha: one alpha.json
    per task of `noise_tasks` (the LR-schedule study's tasks, in that order). `threshold`: the verdict's."""
    noise_tasks, alpha = list(noise_tasks), list(inputs.get("alpha", []))
    if len(alpha) != len(noise_tasks):
        raise ValueError(f"{len(alpha)} alpha paths for the schedule study's {len(noise_tasks)} tasks {noise_tasks}")
    table = read_summary_rows(list(tasks), [tuple(p) for p in pairs], *(list(inputs[k]) for k in
                              ("horizon", "studies", "summary", "lhat", "sensitivity", "prediction")),
                              alpha_paths=dict(zip(noise_tasks, alpha)), threshold=threshold)
    write_table(parquet_path, table)
    write_text(markdown_path, markdown(table))
    write_text(html_path, html_page(table))
