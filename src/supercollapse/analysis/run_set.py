"""Which runs enter a stage's statistics: diverged seeds out (each named, with the step it diverged at), and the
one seed policy of the collapse set. Pure functions on run tables (schema CURVES).

Seed policy (issue 17): the L_hat fit and the collapse statistics use the same seeds, the same number per
width: a width with more healthy seeds than the smallest count keeps its lowest seed ids, and the seeds left
out are recorded (summary.json `seeds_used`, and a warning on the summary page). A width with fewer than 2
healthy seeds is an error naming its diverged seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ..divergence import DIVERGENCE_FACTOR, divergence_index


@dataclass(frozen=True)
class RunSet:
    """The healthy runs of a stage and what was left out of them."""

    runs: pl.DataFrame  # healthy seeds only
    task: str
    role: str  # "sweep" or a study name
    diverged: list[dict]  # {"width", "seed", "step"}: the step from which the run counts as diverged

    def warnings(self) -> list[str]:
        return [f"{self.role}: width {d['width']} seed {d['seed']} diverged at step {d['step']} (a non-finite loss, "
                f"or above {DIVERGENCE_FACTOR:g}x its initial loss from there to the end) and is left out; see "
                f"tasks.{self.task}.optim.lr" for d in self.diverged]

    def note(self) -> str:
        """What to append to an error of a stage whose runs diverged ('' when none did)."""
        if not self.diverged:
            return ""
        n = self.runs.select("width", "seed").unique().height + len(self.diverged)
        runs = ", ".join(f"width {d['width']} seed {d['seed']} at step {d['step']}" for d in self.diverged)
        return (f" ({len(self.diverged)} of {n} {self.role} runs diverged and were left out: {runs}; "
                f"see tasks.{self.task}.optim.lr)")


def run_set(df: pl.DataFrame) -> RunSet:
    """Split a stage's run table into healthy runs and diverged ones (flagged by the engine, divergence.py)."""
    diverged = []
    for (width, seed), g in df.filter(pl.col("diverged")).sort("step").group_by("width", "seed", maintain_order=True):
        i = divergence_index(g["eval_loss"].to_numpy(), g["train_loss"].to_numpy())
        diverged.append({"width": int(width), "seed": int(seed), "step": int(g["step"][0 if i is None else i])})
    return RunSet(runs=df.filter(~pl.col("diverged")), task=str(df["task"][0]), role=str(df["study"][0]),
                  diverged=sorted(diverged, key=lambda d: (d["width"], d["seed"])))


@dataclass(frozen=True)
class EqualSeeds:
    runs: pl.DataFrame  # the same number of seeds in every width
    seeds_used: dict[int, list[int]]  # width -> seeds
    left_out: dict[int, list[int]]  # width -> healthy seeds left out to equalize the counts

    def warnings(self) -> list[str]:
        n = len(next(iter(self.seeds_used.values())))
        return [f"width {w}: healthy seeds {s} left out so that every width has {n} (the seeds of the widths "
                "with fewest healthy runs)" for w, s in self.left_out.items()]


def equal_seeds(runs: RunSet) -> EqualSeeds:
    """The collapse set's seed policy (module docstring): the lowest seed ids, as many per width as the width
    with the fewest healthy seeds has; at least 2."""
    seeds = {d["width"]: [] for d in runs.diverged}  # a width whose every seed diverged has none
    seeds |= {int(w): sorted(g["seed"].unique().to_list()) for (w,), g in runs.runs.group_by("width")}
    n = min(len(s) for s in seeds.values())
    if n < 2:
        few = {w: s for w, s in seeds.items() if len(s) < 2}
        raise ValueError(f"{runs.role}: widths {sorted(few)} have fewer than 2 healthy seeds ({few}); the noise floor "
                         f"needs >= 2 per width{runs.note()}")
    used = {w: s[:n] for w, s in sorted(seeds.items())}
    keep = pl.any_horizontal(*[(pl.col("width") == w) & pl.col("seed").is_in(s) for w, s in used.items()])
    return EqualSeeds(runs=runs.runs.filter(keep), seeds_used=used,
                      left_out={w: s[n:] for w, s in sorted(seeds.items()) if len(s) > n})
