"""The contracts of the analysis and report artifacts: fits, statistics, predictions, summaries."""

from __future__ import annotations

import pyarrow as pa

# The constant-LR lower envelope on a log-spaced compute grid (frontier stage).
FRONTIER = pa.schema(
    [
        ("compute", pa.float64()),  # FLOPs
        ("loss", pa.float64()),  # lower envelope of the seed-mean curves
        ("width", pa.int64()),  # the argmin width at this compute
        ("params", pa.int64()),
        ("interior", pa.bool_()),  # argmin neither the smallest nor the largest sweep width, not censored,
        # truncated (unless sweep.truncated is include) or transient: the points the horizon fit uses
        ("censored", pa.bool_()),  # past the end of a sweep curve that was still the argmin when it ended
        ("truncated", pa.bool_()),  # the argmin width's curve ended while it was the argmin (sweep.truncated)
        ("transient", pa.bool_()),  # before the envelope's loss fell by 5% of its fall: the initial plateau
    ]
)

# Normalized curves: one row per (width, seed, evaluation) of a study.
NORMALIZED = pa.schema(
    [
        ("task", pa.string()),
        ("study", pa.string()),
        ("width", pa.int64()),
        ("params", pa.int64()),
        ("seed", pa.int64()),
        ("x", pa.float64()),  # C / C*, compute normalized by the run's final compute
        ("ell", pa.float64()),  # (L - L_hat) / (L(C*) - L_hat) with this seed's own final loss
        ("loss", pa.float64()),
        ("compute", pa.float64()),
    ]
)

# Supercollapse statistics on the shared x grid of a study.
STATISTICS = pa.schema(
    [
        ("x", pa.float64()),
        ("delta_std", pa.float64()),  # std across widths of the seed-mean normalized curves
        ("delta_range", pa.float64()),  # max - min across widths of the seed-mean normalized curves
        ("sigma_norm", pa.float64()),  # seed std of ell, pooled over widths
        ("sigma_raw", pa.float64()),  # seed std of raw loss / seed-mean reducible end loss, pooled
        ("ratio_norm", pa.float64()),  # delta_std / sigma_norm
        ("ratio_raw", pa.float64()),  # delta_std / sigma_raw
        ("ratio_norm_lo", pa.float64()),  # 95% CI, parametric bootstrap over seeds (RATIO_CI_METHOD)
        ("ratio_norm_hi", pa.float64()),
        ("ratio_raw_lo", pa.float64()),
        ("ratio_raw_hi", pa.float64()),
        ("f_stat", pa.float64()),  # one-way ANOVA of ell: between-width vs within-width mean squares
        ("p_value", pa.float64()),
    ]
)

# Sensitivity of the collapse statistics to L_hat: one row per trial L_hat around the fit.
LHAT_SENSITIVITY = pa.schema(
    [
        ("offset_frac", pa.float64()),  # (L_hat - fitted L_hat) / (smallest seed-mean end loss - fitted L_hat)
        ("l_hat", pa.float64()),
        ("mean_ratio_raw", pa.float64()),  # mean Delta / sigma_raw over the x window (null: cannot normalize)
        ("mean_ratio_norm", pa.float64()),
        ("mean_delta_std", pa.float64()),
    ]
)

# One row per study of a task: the collapse statistics side by side (the ablation summary).
STUDIES = pa.schema(
    [
        ("task", pa.string()),
        ("study", pa.string()),
        ("schedule", pa.string()),
        ("decay_frac", pa.float64()),
        ("gamma_scale", pa.float64()),
        ("lr_reference_width", pa.int64()),  # null: µP
        ("l_hat", pa.float64()),
        ("mean_ratio_raw", pa.float64()),  # mean of Delta / sigma_raw over the x window
        ("mean_ratio_raw_lo", pa.float64()),  # 95% CI, parametric bootstrap over seeds (RATIO_CI_METHOD)
        ("mean_ratio_raw_hi", pa.float64()),
        ("mean_ratio_norm", pa.float64()),
        ("mean_ratio_norm_lo", pa.float64()),
        ("mean_ratio_norm_hi", pa.float64()),
        ("frac_x_delta_below_sigma_raw", pa.float64()),
        ("median_anova_p", pa.float64()),
    ]
)

# The one-page summary: one row per (task, study), every fit and statistic with its CI. The frontier
# columns belong to the task and repeat on each of its studies. CIs are 95% percentile bootstraps over seeds,
# except the Delta/sigma ratios' (a Gaussian parametric bootstrap over seeds used as a pivot, RATIO_CI_METHOD).
SUMMARY = pa.schema(
    [
        ("task", pa.string()),
        ("study", pa.string()),
        ("schedule", pa.string()),
        ("decay_frac", pa.float64()),
        ("gamma_scale", pa.float64()),
        ("lr_reference_width", pa.int64()),  # null: µP
        ("n_widths", pa.int64()),  # collapse widths of the study
        ("seeds_per_width", pa.int64()),
        # Frontier (envelope estimator): C*(P) = (P / kappa)^(1 + gamma) FLOPs
        ("kappa", pa.float64()),
        ("kappa_lo", pa.float64()),
        ("kappa_hi", pa.float64()),
        ("gamma", pa.float64()),
        ("gamma_se", pa.float64()),  # least-squares standard error (of 1 + gamma, the same number)
        ("gamma_lo", pa.float64()),  # bootstrap over the sweep seeds within each width
        ("gamma_hi", pa.float64()),
        ("gamma_widths_lo", pa.float64()),  # bootstrap over the envelope's interior argmin widths (null: not run)
        ("gamma_widths_hi", pa.float64()),
        ("frontier_r2", pa.float64()),  # over the per-width points
        ("frontier_r2_grid", pa.float64()),  # over all interior grid points (the paper's regression)
        ("frontier_points", pa.int64()),
        ("frontier_points_truncated", pa.int64()),  # of them, widths whose interval the sweep cut (lower bounds)
        ("horizon_source", pa.string()),  # envelope (argmin centres), crossings (sweep.points), or run_ends (external, no sweep)
        # IsoFLOP estimator (null where it could not be fitted), and its horizons over the envelope's
        ("isoflop_gamma", pa.float64()),
        ("isoflop_gamma_se", pa.float64()),
        ("isoflop_r2", pa.float64()),
        ("isoflop_horizon_ratio_min", pa.float64()),  # min over the frontier points of C*_isoflop / C*_envelope
        ("isoflop_horizon_ratio_max", pa.float64()),
        # L = L_hat + a C^-b on the compute-optimal end points (C in PFLOP for a)
        ("l_hat", pa.float64()),
        ("l_hat_lo", pa.float64()),
        ("l_hat_hi", pa.float64()),
        ("entropy_floor", pa.float64()),  # the data's exact entropy rate, nats/token (offline chess); L_hat's lower bound
        ("a", pa.float64()),
        ("a_lo", pa.float64()),
        ("a_hi", pa.float64()),
        ("b", pa.float64()),
        ("b_lo", pa.float64()),
        ("b_hi", pa.float64()),
        # Collapse statistics: means over the x window [x_min, x_max]
        ("x_min", pa.float64()),
        ("x_max", pa.float64()),
        ("mean_ratio_raw", pa.float64()),  # mean Delta / sigma_raw
        ("mean_ratio_raw_lo", pa.float64()),
        ("mean_ratio_raw_hi", pa.float64()),
        ("mean_ratio_norm", pa.float64()),  # mean Delta / sigma_norm
        ("mean_ratio_norm_lo", pa.float64()),
        ("mean_ratio_norm_hi", pa.float64()),
        ("frac_x_delta_below_sigma_raw", pa.float64()),
        ("median_anova_p", pa.float64()),
        ("frac_x_anova_p_below_0_05", pa.float64()),
        # Sensitivity to L_hat: mean Delta / sigma_raw at the ends of L_hat's CI, and the minimum over the scan
        ("ratio_raw_at_l_hat_lo", pa.float64()),
        ("ratio_raw_at_l_hat_hi", pa.float64()),
        ("sensitivity_min_ratio_raw", pa.float64()),
        ("sensitivity_min_l_hat", pa.float64()),  # the trial L_hat of that minimum
        ("sensitivity_min_offset_frac", pa.float64()),
        ("sensitivity_min_at_edge", pa.bool_()),  # the minimum is an end of the scanned range: it may lie beyond
        # The scaling verdict from mean Delta/sigma_raw and its CI (summary.verdict, analysis.collapse_threshold)
        ("verdict", pa.string()),  # supercollapse | collapse | no collapse
        ("collapse_threshold", pa.float64()),  # the verdict's line for collapse
        # The largest held-out width's prediction (prediction_scores.json); null where none was held out
        ("holdout_width", pa.int64()),
        ("pred_rmse_over_sigma", pa.float64()),  # RMSE of the seed-mean curve over x in [x_min, 1], in sigma_raw
        ("pred_final_rel_error", pa.float64()),  # (predicted - actual) / actual final loss
        ("pred_band_coverage", pa.float64()),  # share of the trained seeds' points inside the 95% band
        ("baseline_rmse_over_sigma", pa.float64()),  # the same for the Chinchilla-form baseline
        ("baseline_final_rel_error", pa.float64()),
        # The SGD-noise model of the task's LR-schedule study (alpha.json), repeated on each of its studies like
        # the frontier; null where the study does not run on the task. RMSEs over the decay phase, per seed.
        ("noise_width", pa.int64()),
        ("noise_seeds", pa.int64()),
        ("noise_alpha", pa.float64()),
        ("noise_alpha_lo", pa.float64()),  # percentile bootstrap over seeds
        ("noise_alpha_hi", pa.float64()),
        ("noise_rmse_model", pa.float64()),  # pooled over every scheduled run, with the pooled alpha
        ("noise_rmse_baseline", pa.float64()),  # the constant-LR loss at equal tau (alpha = 0)
        ("noise_rmse_ratio", pa.float64()),  # baseline / model
        ("noise_rmse_ratio_out_of_sample", pa.float64()),  # each run predicted with alpha fitted on the others
        ("noise_rmse_ratio_seed_mean", pa.float64()),  # between seed-mean curves
        # What the config allowed that weakens the study (summary.json's warnings), e.g. extrapolated horizons
        ("warnings", pa.list_(pa.string())),
    ]
)

# The theory check: exact normalized curves of a sum of power laws at several horizon exponents.
THEORY = pa.schema(
    [
        ("gamma_scale", pa.float64()),  # horizon exponent / the exact-collapse exponent gamma*
        ("gamma", pa.float64()),  # horizon exponent used: t*(p) proportional to p^gamma
        ("params", pa.float64()),
        ("x", pa.float64()),  # t / t*(p)
        ("ell", pa.float64()),  # L(x t*, p) / L(t*, p)
    ]
)

# The SGD-noise model of LR schedules (schedule study): one row per evaluation point of a scheduled run.
NOISE_PREDICTIONS = pa.schema(
    [
        ("task", pa.string()),
        ("schedule", pa.string()),
        ("decay_frac", pa.float64()),
        ("seed", pa.int64()),
        ("step", pa.int64()),
        ("tau", pa.float64()),  # intrinsic time: sum of the LRs applied so far
        ("lr", pa.float64()),  # eta(t)
        ("eta_ratio", pa.float64()),  # eta(t) / eta_peak
        ("noise_trace", pa.float64()),  # Tr(P^-1 Sigma) of this run at this step (NaN where not measured)
        ("loss", pa.float64()),  # observed eval loss
        ("loss_baseline", pa.float64()),  # the constant-LR run's loss at equal tau (same seed); NaN outside the fit
        ("loss_pred", pa.float64()),  # baseline + alpha (eta / eta_peak - 1) Tr(P^-1 Sigma)
        ("in_fit", pa.bool_()),  # after warmup, step > 0, finite trace: the points alpha is fitted on
        ("decaying", pa.bool_()),  # in_fit and eta < eta_peak: the points the RMSEs are taken over
    ]
)

# Per scheduled run: RMSE over its decay phase of the noise model and of the equal-tau baseline.
NOISE_RMSE = pa.schema(
    [
        ("task", pa.string()),
        ("schedule", pa.string()),
        ("decay_frac", pa.float64()),
        ("seed", pa.int64()),
        ("n_points", pa.int64()),
        ("rmse_model", pa.float64()),  # with the task's pooled alpha
        ("rmse_baseline", pa.float64()),  # alpha = 0: the constant-LR loss at equal tau
        ("ratio", pa.float64()),  # rmse_baseline / rmse_model
    ]
)

# One row per x of a prediction (to_table).
PREDICTION = pa.schema(
    [
        ("width", pa.int64()),
        ("params", pa.int64()),
        ("kind", pa.string()),  # "predicted" (a width never trained) or "holdout" (a trained width left out)
        ("x", pa.float64()),  # C / C*(P)
        ("compute", pa.float64()),  # FLOPs: x C*(P)
        ("loss_pred", pa.float64()),
        ("loss_lo", pa.float64()),  # 95% band of the prediction (the seed-mean curve)
        ("loss_hi", pa.float64()),
        ("loss_lo_seed", pa.float64()),  # the band widened by the seed noise floor (one seed's curve)
        ("loss_hi_seed", pa.float64()),
    ]
)
