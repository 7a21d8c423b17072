"""Throughput of the MLP training engine: step time, samples/s, compile time, peak memory and MFU.

For every (width, seeds, precision) it measures two ways of running the same update (same model, µP LRs,
Adam, on-device inputs):
  engine    the engine's program: updates inside one jitted fori_loop with traced bounds, buffers donated,
            the host visited only at evaluation points (here: once per timed segment);
  jit_loop  the plain baseline: the same vmapped update under jax.jit, called from Python once per step (no
            donation), synchronised once at the end of the timed loop, the most favourable plain loop.
MFU = model FLOP/s / the peak FLOP/s of an n x n matmul in the case's dtype measured in the same process;
model FLOPs = 6 * params * samples (the paper's accounting; generating the Fourier targets is not counted).

  python benchmarks/bench_mlp.py                       # CPU-sized shapes (widths 16-256, batch 1024)
  python benchmarks/bench_mlp.py --paper               # the paper's shapes (widths 512-2048, batch 4096)
  python benchmarks/bench_mlp.py --widths 128 --seeds 1 --precision float32 bfloat16 --threads 1

Results: a Markdown table on stdout and benchmarks/results/mlp.parquet (one row per case and mode).
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

# The paper's MLP task (DESIGN §3): input dim 8, depth 5, 10,000 modes, batch 4096.
PAPER = {"widths": [512, 1024, 2048], "batch": 4096, "depth": 5, "input_dim": 8, "n_modes": 10000}
CPU = {"widths": [16, 64, 256], "batch": 1024, "depth": 3, "input_dim": 4, "n_modes": 64}

COLUMNS = [("mode", ""), ("width", ""), ("seeds", ""), ("precision", ""), ("devices", ""), ("step_ms", ".3f"),
           ("samples_per_s", ",.0f"), ("compile_s", ".2f"), ("peak_mem_mib", ".0f"), ("mem_source", ""),
           ("model_tflops", ".4f"), ("peak_tflops", ".3f"), ("mfu", ".2%"), ("speedup_vs_jit_loop", ".2f")]


def measure(case: dict) -> list[dict]:
    """Measure one case in this process (a fresh one, from `run_cases`): one row per mode.

    The modes' timed segments alternate (engine, jit_loop, engine, ...), and the matmul peak is taken before
    and after them (the higher counts), so load from other processes hits every number alike. Peak memory is
    read after the first mode's compile and warm-up, before the next mode allocates anything: only the first
    mode's row has it.
    """
    if case["threads"]:
        from supercollapse.workflow import limit_cpu_threads

        limit_cpu_threads(case["threads"])
    from supercollapse.workflow import share_accelerator_memory

    share_accelerator_memory()
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding, PartitionSpec

    import numpy as np

    from supercollapse.data.fourier import make_target, sample_inputs
    from supercollapse.train.engine import RunSpec, build_programs, data_mesh, initial_state
    from supercollapse.train.schedules import schedule_values
    from supercollapse.train.tasks import FourierTask

    max_steps, repeats = case["steps"], case["repeats"]
    total = max_steps * (repeats + 1) + 11
    spec = RunSpec(task="bench", study="bench", width=case["width"], depth=case["depth"],
                   input_dim=case["input_dim"], steps=total, batch_size=case["batch"],
                   seeds=tuple(range(case["seeds"])), schedule="const", base_width=min(128, case["width"]),
                   compute_dtype=case["precision"])
    target = make_target(case["n_modes"], case["input_dim"], 2.0, seed=0)
    x = sample_inputs(np.random.default_rng(0), 16, case["input_dim"])
    task = FourierTask(target, x, target(x))  # the evaluation set is not timed
    mesh = data_mesh(case["devices"], spec.batch_size)
    programs = build_programs(spec, task, schedule_values("const", total, 0, 1.0), mesh)
    init, step, run_segment, train_data = programs.init, programs.step, programs.run_segment, programs.train_data

    def fresh_state():
        state, lr_tree = initial_state(spec, init, spec.seeds)
        if mesh is not None:
            state = jax.device_put(state, NamedSharding(mesh, PartitionSpec()))
        return jax.block_until_ready(state), lr_tree

    def engine_runner():
        state, lr_tree = fresh_state()
        position = 0

        def run(steps):
            nonlocal state, position
            bounds = (jnp.int32(position), jnp.int32(position + steps))  # traced: one compilation
            state = jax.block_until_ready(run_segment(bounds, state, lr_tree))
            position += steps
        return run

    def jit_loop_runner():
        state, lr_tree = fresh_state()
        step_jit = eqx.filter_jit(step)  # µP multipliers static, as in the engine
        position = 0

        def run(steps):
            nonlocal state, position
            for t in range(position, position + steps):
                state = step_jit(jnp.int32(t), state, lr_tree, train_data)
            jax.block_until_ready(state)
            position += steps
        return run

    runners, rows = {"engine": engine_runner, "jit_loop": jit_loop_runner}, {}
    for i, mode in enumerate(case["modes"]):
        if mode not in runners:
            raise ValueError(f"mode must be one of {sorted(runners)}, got {mode!r}")
        run = runners[mode]()
        t0 = time.perf_counter()
        run(1)
        compile_s = time.perf_counter() - t0
        # An untimed probe of 10 steps (first-run effects) sizes the timed segments to about `segment_s`.
        t0 = time.perf_counter()
        run(10)
        steps = int(min(max_steps, max(10, case["segment_s"] / ((time.perf_counter() - t0) / 10))))
        mem = benchlib.peak_memory() if i == 0 else {"peak_device_bytes": None, "peak_rss_bytes": None}
        rows[mode] = {"run": run, "timed_steps": steps, "compile_s": compile_s, "times": [], **mem}
    peak = benchlib.measure_matmul_peak(case["precision"], case["matmul_n"])
    for _ in range(repeats):
        for row in rows.values():
            t0 = time.perf_counter()
            row["run"](row["timed_steps"])
            row["times"].append((time.perf_counter() - t0) / row["timed_steps"])
    peak = max(peak, benchlib.measure_matmul_peak(case["precision"], case["matmul_n"]))

    samples = spec.batch_size * len(spec.seeds)
    out = []
    for mode, row in rows.items():
        step_s = sorted(row["times"])[len(row["times"]) // 2]
        model_flops = 6.0 * spec.params * samples / step_s
        mem_bytes = row["peak_device_bytes"] or row["peak_rss_bytes"]
        out.append({**{k: v for k, v in case.items() if k != "modes"}, "mode": mode, **benchlib.device_info(),
                    "params": spec.params, "timed_steps": row["timed_steps"], "step_ms": 1e3 * step_s,
                    "samples_per_s": samples / step_s, "compile_s": row["compile_s"],
                    "peak_mem_mib": None if mem_bytes is None else mem_bytes / 2**20,
                    "mem_source": None if mem_bytes is None else
                    ("device" if row["peak_device_bytes"] else "host_rss"),
                    "peak_device_bytes": row["peak_device_bytes"], "peak_rss_bytes": row["peak_rss_bytes"],
                    "model_tflops": model_flops / 1e12, "peak_tflops": peak / 1e12, "mfu": model_flops / peak})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper", action="store_true", help="the paper's shapes (defaults: CPU-sized shapes)")
    parser.add_argument("--widths", type=int, nargs="+")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--depth", type=int)
    parser.add_argument("--n-modes", type=int, help="Fourier modes of the target (its cost is not model FLOPs)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 5], help="vmapped seeds per program")
    parser.add_argument("--precision", nargs="+", default=["float32", "bfloat16"],
                        choices=["float32", "bfloat16"], help="compute dtype (master weights stay float32)")
    parser.add_argument("--modes", nargs="+", default=["engine", "jit_loop"], choices=["engine", "jit_loop"])
    parser.add_argument("--devices", type=int, default=1, help="data-parallel devices per program")
    parser.add_argument("--steps", type=int, default=1000, help="most updates per timed segment")
    parser.add_argument("--segment-s", type=float, default=1.0,
                        help="target seconds per timed segment (sets its steps, 10 to --steps)")
    parser.add_argument("--repeats", type=int, default=5, help="timed segments per mode (the median is reported)")
    parser.add_argument("--matmul-n", type=int, default=0,
                        help="size of the peak-FLOP/s matmul (0: 1024 on a CPU, 8192 on a GPU or TPU)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: XLA's default, all cores)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "mlp.parquet")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one case in this process
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(json.loads(args.one))))
        return
    if args.repeats < 1 or args.steps < 10:
        parser.error("--repeats must be >= 1 and --steps >= 10")
    shapes = {**(PAPER if args.paper else CPU)}
    shapes["widths"] = args.widths or shapes["widths"]
    shapes["batch"] = args.batch or shapes["batch"]
    shapes["depth"] = args.depth or shapes["depth"]
    shapes["n_modes"] = args.n_modes or shapes["n_modes"]
    cases = [{"model": "mlp", "modes": args.modes, "width": width, "seeds": seeds, "precision": precision,
              "devices": args.devices, "batch": shapes["batch"], "depth": shapes["depth"],
              "input_dim": shapes["input_dim"], "n_modes": shapes["n_modes"], "steps": args.steps,
              "segment_s": args.segment_s, "matmul_n": args.matmul_n or None,
              "repeats": args.repeats, "threads": args.threads}
             for width in shapes["widths"] for seeds in args.seeds for precision in args.precision]
    rows = benchlib.run_cases(Path(__file__), cases)
    baseline = {(r["width"], r["seeds"], r["precision"]): r["step_ms"] for r in rows if r["mode"] == "jit_loop"}
    for r in rows:
        base = baseline.get((r["width"], r["seeds"], r["precision"]))
        r["speedup_vs_jit_loop"] = base / r["step_ms"] if base else None
    benchlib.report(rows, args.out, "MLP engine", args.threads, COLUMNS)


if __name__ == "__main__":
    main()
