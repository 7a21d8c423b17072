"""Learning-rate schedules s(t) in [0, 1]: linear warmup, then a shape decaying over the last `decay_frac`.

The paper's shapes (DESIGN §3), with u in [0, 1] the progress through the decay phase:
const 1, linear 1 - u, cosine (1 + cos(pi u)) / 2, multicosine (1 + cos(3 pi u)) / 2, quadratic 1 - u^2.
All end at 0 (const excepted). The LR applied at update t (0-based) is base_lr * s(t).
"""

from __future__ import annotations

import math

import numpy as np

SHAPES = {
    "const": lambda u: np.ones_like(u),
    "linear": lambda u: 1.0 - u,
    "cosine": lambda u: 0.5 * (1.0 + np.cos(math.pi * u)),
    "multicosine": lambda u: 0.5 * (1.0 + np.cos(3.0 * math.pi * u)),
    "quadratic": lambda u: 1.0 - u**2,
}


def schedule_values(name: str, steps: int, warmup_steps: int = 0, decay_frac: float = 1.0) -> np.ndarray:
    """Multipliers s(t) for the updates t = 0 .. steps-1 (float64).

    Warmup: s(t) = (t + 1) / warmup_steps for t < warmup_steps. After warmup the schedule is flat at 1 for
    the first (1 - decay_frac) of the remaining updates, then follows the shape, whose progress u runs
    from 0 to 1 so that the final update of the run has u = 1 (LR 0 for the decaying shapes).
    """
    if name not in SHAPES:
        raise ValueError(f"unknown schedule {name!r}; expected one of {sorted(SHAPES)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not 0 <= warmup_steps < steps:
        raise ValueError(f"warmup_steps must be in [0, steps={steps}), got {warmup_steps}")
    if not 0.0 <= decay_frac <= 1.0:
        raise ValueError(f"decay_frac must be in [0, 1], got {decay_frac}")
    t = np.arange(steps, dtype=np.float64)
    s = np.ones(steps, dtype=np.float64)
    if warmup_steps > 0:
        s[:warmup_steps] = (t[:warmup_steps] + 1.0) / warmup_steps
    post = steps - warmup_steps
    decay_steps = int(round(decay_frac * post))
    if decay_steps > 0:
        start = steps - decay_steps
        u = (t[start:] - start + 1.0) / decay_steps
        s[start:] = SHAPES[name](u)
    return s
