"""Throughput of the transformer training engine: step time, tokens/s, compile time, peak memory and MFU.

Times the engine's program (updates inside one jitted fori_loop, buffers donated, token rows gathered on the
device from a random uniform corpus) for every (width, seeds, precision); with `--data-placement host` the
rows are gathered in host memory and streamed to the device in blocks instead (train/stream.py), as a job
with `data_placement: host` trains. MFU = model FLOP/s / the peak
FLOP/s of an n x n matmul in the case's dtype measured in the same process; model FLOPs = 6 * params *
tokens (the paper's accounting: attention excluded), tokens = batch * (seq_len - 1) per seed and step.

  python benchmarks/bench_transformer.py --threads 1                    # CPU-sized shapes
  python benchmarks/bench_transformer.py --paper cifar5m --precision bfloat16 --attention cudnn
  python benchmarks/bench_transformer.py --paper chess --seeds 1 5
  python benchmarks/bench_transformer.py --paper chess --data-placement device host

Results: a Markdown table on stdout and benchmarks/results/transformer.parquet (one row per case).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))  # the package beside the benchmarks

import benchlib  # noqa: E402

# DESIGN §3 / issue 4: depth 3, expansion 1, head dim 64; CIFAR-5M seq 1024 batch 64, chess seq 128 batch 512.
SHAPES = {
    "cpu": {"widths": [16, 32, 64], "seq_len": 128, "batch": 32, "vocab": 53, "head_dim": 16},
    "cifar5m": {"widths": [768, 1024, 2048], "seq_len": 1024, "batch": 64, "vocab": 256, "head_dim": 64},
    "chess": {"widths": [768, 1024, 2048], "seq_len": 128, "batch": 512, "vocab": 53, "head_dim": 64},
}
COLUMNS = [("width", ""), ("seeds", ""), ("precision", ""), ("attention", ""), ("placement", ""), ("seq_len", ""),
           ("batch", ""),
           ("step_ms", ".2f"), ("tokens_per_s", ",.0f"), ("compile_s", ".2f"), ("peak_mem_mib", ".0f"),
           ("model_tflops", ".4f"), ("peak_tflops", ".3f"), ("mfu", ".2%")]


def measure(case: dict) -> list[dict]:
    """Measure one case in this process (a fresh one, from `run_cases`)."""
    if case["threads"]:
        from supercollapse.workflow import limit_cpu_threads

        limit_cpu_threads(case["threads"])
    from supercollapse.workflow import share_accelerator_memory

    share_accelerator_memory()
    import jax
    import jax.numpy as jnp
    import numpy as np

    from supercollapse.train import stream
    from supercollapse.train.engine import RunSpec, build_programs, initial_state
    from supercollapse.train.schedules import schedule_values
    from supercollapse.train.tasks import TokenTask

    total = case["steps"] * (case["repeats"] + 1) + 11
    spec = RunSpec(task="bench", study="bench", width=case["width"], depth=case["depth"], steps=total,
                   batch_size=case["batch"], seeds=tuple(range(case["seeds"])), kind="transformer",
                   vocab_size=case["vocab"], seq_len=case["seq_len"], head_dim=case["head_dim"],
                   base_width=case["head_dim"], attention=case["attention"], schedule="const",
                   compute_dtype=case["precision"], lr=0.01, embed_lr_mult=10.0)
    rng = np.random.default_rng(0)
    rows = max(4 * case["batch"], 256)
    task = TokenTask(rng.integers(0, case["vocab"], (rows, case["seq_len"])).astype(np.uint16),
                     rng.integers(0, case["vocab"], (8, case["seq_len"])).astype(np.uint16))
    placement = case.get("placement", "device")
    programs = build_programs(spec, task, schedule_values("const", total), None, placement)
    state, lr_tree = initial_state(spec, programs.init, spec.seeds)
    state = jax.block_until_ready(state)
    position = 0
    if placement == "host":
        feed = stream.HostStream(spec, task, np.asarray(state[2]), programs.run_block)

    def run(steps):
        nonlocal state, position
        if placement == "host":
            state = jax.block_until_ready(feed.run(position, position + steps, state, lr_tree))
        else:
            state = jax.block_until_ready(programs.run_segment(
                (jnp.int32(position), jnp.int32(position + steps)), state, lr_tree))
        position += steps

    t0 = time.perf_counter()
    run(1)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    run(3)  # untimed probe: sizes the timed segments to about `segment_s`
    steps = int(min(case["steps"], max(3, case["segment_s"] / ((time.perf_counter() - t0) / 3))))
    mem = benchlib.peak_memory()
    peak = benchlib.measure_matmul_peak(case["precision"], case["matmul_n"])
    times = []
    for _ in range(case["repeats"]):
        t0 = time.perf_counter()
        run(steps)
        times.append((time.perf_counter() - t0) / steps)
    peak = max(peak, benchlib.measure_matmul_peak(case["precision"], case["matmul_n"]))
    step_s = sorted(times)[len(times) // 2]
    tokens = spec.batch_size * (spec.seq_len - 1) * len(spec.seeds)
    model_flops = 6.0 * spec.params * tokens / step_s
    mem_bytes = mem["peak_device_bytes"] or mem["peak_rss_bytes"]
    return [{**case, **benchlib.device_info(), "params": spec.params, "timed_steps": steps, "step_ms": 1e3 * step_s,
             "tokens_per_s": tokens / step_s, "compile_s": compile_s,
             "peak_mem_mib": None if mem_bytes is None else mem_bytes / 2**20,
             "mem_source": "device" if mem["peak_device_bytes"] else "host_rss",
             "model_tflops": model_flops / 1e12, "peak_tflops": peak / 1e12, "mfu": model_flops / peak}]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper", choices=["cifar5m", "chess"], help="the paper's shapes (default: CPU-sized)")
    parser.add_argument("--widths", type=int, nargs="+")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--seq-len", type=int)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--head-dim", type=int)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="vmapped seeds per program")
    parser.add_argument("--precision", nargs="+", default=["float32"], choices=["float32", "bfloat16"])
    parser.add_argument("--attention", default="xla", choices=["xla", "cudnn", "chunked"])
    parser.add_argument("--data-placement", nargs="+", default=["device"], choices=["device", "host"],
                        help="train rows gathered on the device, or in host memory and streamed in blocks")
    parser.add_argument("--steps", type=int, default=200, help="most updates per timed segment")
    parser.add_argument("--segment-s", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--matmul-n", type=int, default=0, help="peak-FLOP/s matmul size (0: per backend)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: XLA's default, all cores)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "transformer.parquet")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(json.loads(args.one))))
        return
    shape = SHAPES[args.paper or "cpu"]
    cases = [{"model": "transformer", "width": w, "seeds": s, "precision": p, "attention": args.attention,
              "depth": args.depth, "seq_len": args.seq_len or shape["seq_len"], "batch": args.batch or shape["batch"],
              "vocab": shape["vocab"], "head_dim": args.head_dim or shape["head_dim"], "steps": args.steps,
              "segment_s": args.segment_s, "repeats": args.repeats, "matmul_n": args.matmul_n or None,
              "threads": args.threads, "placement": placement}
             for w in (args.widths or shape["widths"]) for s in args.seeds for p in args.precision
             for placement in args.data_placement]
    rows = benchlib.run_cases(Path(__file__), cases)
    benchlib.report(rows, args.out, "transformer engine", args.threads, COLUMNS)


if __name__ == "__main__":
    main()
