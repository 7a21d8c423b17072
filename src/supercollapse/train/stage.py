"""The training stage: one job = one (task, study, width), all seeds, curves written per DESIGN §2.

A job's inputs are named as in the training rules: a `fourier_mlp` task reads the make_task artifacts
(`target`, `evalset`), a `transformer` task the tokenize artifacts (`train`, `test`, `meta`). The
transformer's vocabulary size comes from the data's meta.json (the tokenizer decides it), so its
parameter count is known once the data exists: `model_params` takes the meta for a transformer task.
"""

from __future__ import annotations

import logging

from ..data.stage import load_fourier_task
from ..io import read_json, write_table
from . import checkpoint as ckpt
from .engine import RunSpec, train
from .tasks import ADAPTERS, FourierTask, TokenTask

log = logging.getLogger("supercollapse.train")

INPUTS = {"fourier_mlp": ("target", "evalset"), "transformer": ("train", "test", "meta")}


def _kind(task_cfg: dict) -> str:
    kind = task_cfg.get("kind", "fourier_mlp")
    if kind not in ADAPTERS:
        raise ValueError(f"task kind must be one of {sorted(ADAPTERS)}, got {kind!r}")
    return kind


def _token_meta(task_cfg: dict, meta: dict | None) -> dict:
    """The meta.json fields a transformer run needs, checked against the task's config."""
    if meta is None:
        raise ValueError("a transformer task's parameter count needs its data's meta.json (vocab_size); "
                         "tokenize the data first")
    for key in ("vocab_size", "seq_len"):
        if not isinstance(meta.get(key), int) or meta[key] < 2:
            raise ValueError(f"meta.json: {key} must be an integer >= 2, got {meta.get(key)!r}")
    seq_len = task_cfg["data"].get("seq_len")
    if seq_len is not None and int(seq_len) != meta["seq_len"]:
        raise ValueError(f"meta.json seq_len {meta['seq_len']} differs from the task's data.seq_len {seq_len}; "
                         "re-tokenize the data")
    return meta


def _model_fields(task_cfg: dict, meta: dict | None) -> dict:
    """The RunSpec fields that define the task's model (and, for tokens, its loss)."""
    model, kind = task_cfg["model"], _kind(task_cfg)
    fields = {"kind": kind, "depth": int(model["depth"]), "expansion": int(model["expansion"]),
              "base_width": int(model["base_width"])}
    if kind == "fourier_mlp":
        return {**fields, "input_dim": int(task_cfg["data"]["input_dim"])}
    meta = _token_meta(task_cfg, meta)
    return {**fields, "vocab_size": int(meta["vocab_size"]), "seq_len": int(meta["seq_len"]),
            "mask_zero_targets": bool(meta.get("mask_zero_targets", False)), "head_dim": int(model["head_dim"]),
            "attention": str(model.get("attention", "xla"))}


def model_params(task_cfg: dict, width: int, meta: dict | None = None) -> int:
    """Parameter count of the task's model at `width` (every parameter, embeddings included).

    A transformer task needs its data's `meta` (meta.json: vocab_size, seq_len)."""
    return RunSpec(task="", study="", width=int(width), steps=1, batch_size=1, seeds=(0,),
                   **_model_fields(task_cfg, meta)).params


def tokens_per_step(task_cfg: dict, meta: dict | None = None) -> int:
    """Tokens of one update: the batch size (samples) for the regression task, batch x (seq_len - 1)
    predicted tokens for a transformer task (which needs its data's `meta`)."""
    batch = int(task_cfg["optim"]["batch_size"])
    if _kind(task_cfg) == "fourier_mlp":
        return batch
    return batch * (int(_token_meta(task_cfg, meta)["seq_len"]) - 1)


def run_spec(task: str, task_cfg: dict, study: str, width: int, steps: int, seeds: int, schedule: str,
             decay_frac: float, lr_reference_width: int | None = None, meta: dict | None = None,
             noise_examples: int = 0, noise_chunk: int = 256, first_seed: int = 0) -> RunSpec:
    """Build the RunSpec of one job from the task's config slice (keys as in the config schema); a
    transformer task also needs its data's `meta` (meta.json). `noise_examples` > 0 logs the noise trace.
    The job trains seeds first_seed, ..., first_seed + seeds - 1."""
    model, optim = task_cfg["model"], task_cfg["optim"]
    warmup = int(optim["warmup_steps"])
    if warmup >= steps:
        raise ValueError(
            f"tasks.{task}.optim.warmup_steps ({warmup}) must be smaller than the run length of width {width} "
            f"in study {study!r} ({steps} steps); lower the warmup or use larger widths")
    return RunSpec(
        task=task, study=study, width=int(width), **_model_fields(task_cfg, meta), steps=int(steps),
        batch_size=int(optim["batch_size"]), seeds=tuple(range(int(first_seed), int(first_seed) + int(seeds))), schedule=schedule,
        decay_frac=float(decay_frac), warmup_steps=warmup, lr=float(optim["lr"]),
        embed_lr_mult=float(optim["embed_lr_mult"]), b1=float(optim["b1"]), b2=float(optim["b2"]),
        eps=float(optim["eps"]), lr_reference_width=lr_reference_width, n_evals=int(task_cfg["n_evals"]),
        seed_batching=str(task_cfg["seed_batching"]), compute_dtype=str(model["compute_dtype"]),
        noise_examples=int(noise_examples), noise_chunk=int(noise_chunk))


def load_task(spec: RunSpec, inputs: dict, eval_sequences: int | None = None):
    """The task adapter of a job from its named input files (INPUTS[spec.kind]).

    A transformer task evaluates on the first `eval_sequences` test rows (all of them when None)."""
    missing = [name for name in INPUTS[spec.kind] if name not in inputs]
    if missing:
        raise ValueError(f"a {spec.kind} job needs the inputs {list(INPUTS[spec.kind])}, missing {missing}")
    if spec.kind == "fourier_mlp":
        return FourierTask(*load_fourier_task(inputs["target"], inputs["evalset"]))
    from ..data.tokens import read_tokens

    meta = read_json(inputs["meta"])
    test = read_tokens(inputs["test"])
    if eval_sequences is not None:
        if len(test) < eval_sequences:
            raise ValueError(f"{inputs['test']}: {len(test)} test sequences, fewer than data.eval_sequences "
                             f"({eval_sequences})")
        test = test[:eval_sequences]
    return TokenTask(read_tokens(inputs["train"]), test, bool(meta.get("mask_zero_targets", False)))


def run_job(spec: RunSpec, inputs: dict, out_path, extra_meta: dict | None = None,
            checkpoint: ckpt.CheckpointPolicy | None = None, devices: int = 1,
            eval_sequences: int | None = None, data_placement: str = "auto") -> dict:
    """Train one job and write its curves; with `checkpoint`, resume from it and remove it once written.

    `inputs`: the job's named input files (INPUTS[spec.kind])."""
    task = load_task(spec, inputs, eval_sequences)
    log.info("training %s/%s width %d (%d params): %d steps x batch %d (%d tokens each), seeds %s, schedule %s",
             spec.task, spec.study, spec.width, spec.params, spec.steps, spec.batch_size, spec.tokens_per_example,
             list(spec.seeds), spec.schedule)
    table, meta = train(spec, task, extra_meta=extra_meta, checkpoint=checkpoint, devices=devices,
                        data_placement=data_placement)
    write_table(out_path, table)
    if checkpoint is not None:
        ckpt.clear(checkpoint)
    log.info("done in %.1fs (compile %.1fs), %.0f samples/s, %.0f tokens/s, train data on the %s", meta["wall_time_s"],
             meta["compile_time_s"] or 0, meta["samples_per_s"], meta["tokens_per_s"], meta["data_placement"])
    return meta


def run_coord_check(task: str, task_cfg: dict, coord_cfg: dict, inputs: dict, out_path) -> None:
    """The µP coordinate check of a transformer task (train/coord.py) with its model and optimizer settings,
    written to `out_path` (schema COORD_CHECK). Config keys: coord_check in the config schema."""
    from .coord import coord_check

    if _kind(task_cfg) != "transformer":
        raise ValueError(f"tasks.{task}: the coordinate check is for transformer tasks, got kind {task_cfg['kind']!r}")
    meta = read_json(inputs["meta"])
    head_dim = int(task_cfg["model"]["head_dim"])
    widths = coord_cfg["widths"] or [head_dim * 2**i for i in range(4)]
    optim = task_cfg["optim"]
    spec = RunSpec(task=task, study="coord_check", width=int(widths[0]), steps=int(coord_cfg["steps"]),
                   batch_size=int(coord_cfg["batch_size"] or optim["batch_size"]), seeds=(0,),
                   **_model_fields(task_cfg, meta), lr=float(optim["lr"]),
                   embed_lr_mult=float(optim["embed_lr_mult"]), b1=float(optim["b1"]), b2=float(optim["b2"]),
                   eps=float(optim["eps"]), compute_dtype=str(task_cfg["model"]["compute_dtype"]))
    token_task = load_task(spec, inputs, int(coord_cfg["probe_sequences"]))
    table = coord_check(spec, token_task, widths, spec.steps, token_task.eval_tokens)
    write_table(out_path, table)
    log.info("coordinate check of %s at widths %s over %d steps written to %s", task, widths, spec.steps, out_path)
