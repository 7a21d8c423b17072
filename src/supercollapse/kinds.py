"""Task kinds (config tasks.<name>.kind) outside the training programs: the data a job reads, the model's size
and cost, and the RunSpec fields of its model. Pure (no JAX): the plan, the rules, the config checks and the
training stage dispatch on a task's kind only through KINDS. The training side of each kind (model, batches,
loss) is its adapter in train/tasks.py (ADAPTERS, the same keys).
"""

from __future__ import annotations

from . import jobsize
from .models.param_count import mlp_params, transformer_params


class FourierMLP:
    """The synthetic regression task: its data is a target function and an evaluation set (make_task)."""

    # Input name -> file under <results>/<task>/data/, as the training rules name them.
    artifacts = {"target": "target.parquet", "evalset": "eval.parquet", "meta": "meta.json"}
    job_reads = ("target", "evalset")  # the artifacts a training job loads
    eval_key = "eval_size"  # data key: how many examples an evaluation reads
    tokenized = False  # sizes do not depend on meta.json
    trains = True  # the workflow trains its runs

    @staticmethod
    def params(task_cfg: dict, width: int, meta: dict | None) -> int:
        m = task_cfg["model"]
        return mlp_params(width, m["depth"], task_cfg["data"]["input_dim"], m["expansion"])

    @staticmethod
    def tokens_per_example(task_cfg: dict, meta: dict | None) -> int:
        return 1

    @classmethod
    def job_flops(cls, task_cfg: dict, width: int, seeds: int, steps: int, meta: dict | None) -> float:
        return jobsize.train_flops(cls.params(task_cfg, width, meta), steps, task_cfg["optim"]["batch_size"], seeds,
                                   task_cfg["n_evals"], task_cfg["data"]["eval_size"])

    @classmethod
    def job_mem_mb(cls, task_cfg: dict, width: int, seeds: int, meta: dict | None) -> int:
        m = task_cfg["model"]
        return jobsize.mem_mb(cls.params(task_cfg, width, meta), seeds, task_cfg["optim"]["batch_size"], width,
                              m["depth"], m["expansion"], task_cfg["data"]["eval_size"])

    @staticmethod
    def model_fields(task_cfg: dict, meta: dict | None) -> dict:
        """The engine RunSpec fields of the task's model beyond depth, expansion and base width."""
        return {"input_dim": int(task_cfg["data"]["input_dim"])}


class Transformer:
    """Next-token prediction on a tokenized corpus (tokenize): the vocabulary and sequence length come from
    the data's meta.json, so sizes need it."""

    artifacts = {"train": "train.parquet", "test": "test.parquet", "meta": "meta.json"}
    job_reads = ("train", "test", "meta")
    eval_key = "eval_sequences"
    tokenized = True
    trains = True

    @staticmethod
    def meta(task_cfg: dict, meta: dict | None) -> dict:
        """The meta.json fields the task's size depends on, checked against the task's config."""
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

    @classmethod
    def params(cls, task_cfg: dict, width: int, meta: dict | None) -> int:
        m, meta = task_cfg["model"], cls.meta(task_cfg, meta)
        return transformer_params(width, m["depth"], meta["vocab_size"], meta["seq_len"] - 1, m["expansion"])

    @classmethod
    def tokens_per_example(cls, task_cfg: dict, meta: dict | None) -> int:
        return cls.meta(task_cfg, meta)["seq_len"] - 1

    @classmethod
    def job_flops(cls, task_cfg: dict, width: int, seeds: int, steps: int, meta: dict | None) -> float:
        context = cls.tokens_per_example(task_cfg, meta)
        return jobsize.train_flops(cls.params(task_cfg, width, meta), steps, task_cfg["optim"]["batch_size"], seeds,
                                   task_cfg["n_evals"], task_cfg["data"]["eval_sequences"], context,
                                   jobsize.attention_flops_per_token(task_cfg["model"]["depth"], width, context))

    @classmethod
    def job_mem_mb(cls, task_cfg: dict, width: int, seeds: int, meta: dict | None) -> int:
        m, meta = task_cfg["model"], cls.meta(task_cfg, meta)
        return jobsize.transformer_mem_mb(cls.params(task_cfg, width, meta), seeds, task_cfg["optim"]["batch_size"],
                                          width, m["depth"], m["expansion"], meta["seq_len"] - 1, meta["vocab_size"],
                                          m["head_dim"])

    @classmethod
    def model_fields(cls, task_cfg: dict, meta: dict | None) -> dict:
        meta = cls.meta(task_cfg, meta)
        return {"vocab_size": int(meta["vocab_size"]), "seq_len": int(meta["seq_len"]),
                "mask_zero_targets": bool(meta.get("mask_zero_targets", False)),
                "head_dim": int(task_cfg["model"]["head_dim"]),
                "attention": str(task_cfg["model"].get("attention", "xla"))}


class External:
    """Runs trained elsewhere, read from files (external/): no data artifacts, no training job."""

    artifacts: dict[str, str] = {}
    tokenized = False
    trains = False


KINDS = {"fourier_mlp": FourierMLP, "transformer": Transformer, "external": External}


def kind_of(task_cfg: dict):
    """The kind of a task's config (tasks.<name>.kind), from KINDS."""
    if task_cfg["kind"] not in KINDS:
        raise ValueError(f"task kind must be one of {sorted(KINDS)}, got {task_cfg['kind']!r}")
    return KINDS[task_cfg["kind"]]
