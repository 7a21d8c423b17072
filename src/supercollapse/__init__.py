"""supercollapse: a reproducible pipeline for scaling collapse of compute-optimal loss curves."""

__version__ = "0.1.0"
