"""Issue 4's GPU targets in one command per part: run the paper-shape benchmark cases, then check each
measured number against its target (a table on stdout, rows in <results>/targets.parquet).

  python benchmarks/gpu_targets.py --part cifar5m-bf16   # bf16 compute, cuDNN attention, widths 768-2048
  python benchmarks/gpu_targets.py --part cifar5m-fp32   # float32, XLA and chunked attention
  python benchmarks/gpu_targets.py --part chess mlp      # the chess shape at width 1024 (+ host-streamed); the MLP
  python benchmarks/gpu_targets.py --check-only          # check what the parts already wrote
  python benchmarks/gpu_targets.py --part mlp chess cifar5m-bf16 cifar5m-fp32 --budget-s 420 --bench-args='--repeats 3'
                                                          # every part in one device command of at most 7 minutes

Every case runs in its own process (bench_transformer.py / bench_mlp.py), so a case that fails (out of
memory, an attention implementation the device lacks) is recorded with its error and the others still run.
Each part keeps its rows in <results>/<part>.parquet (replaced when the part is run again), so parts can be
run in separate commands (a device session allows 10 minutes per command) and checked together at the end.

Targets (issue 4). Baseline: the paper's own code on an H100 at fp32/TF32, tokens/s at the CIFAR-5M shape
(depth 3, seq 1024, batch 64) 783k / 604k / 244k at width 768 / 1024 / 2048, the chess shape (seq 128,
batch 512) at width 1024 1.08M, the MLP (batch 4096) 824k / 458k samples/s at width 1024 / 2048.
- bf16 mode (bf16 compute, float32 master weights), CIFAR-5M shape, 1 seed: MFU >= 50% / 60% / 75% at
  width 768 / 1024 / 2048;
- float32 mode (the paper's numerics): tokens/s >= 2x the baseline at every width (the better of XLA and
  chunked attention), and a row at width 2048 at all (no out-of-memory);
- chess shape, width 1024, float32: tokens/s >= 2x 1.08M;
- MLP, batch 4096: float32 samples/s >= 2x the baseline at width 1024 and 2048; MFU >= 35% at width 2048
  (the better precision);
- width 768, CIFAR-5M shape, bf16: the step time of 5 vmapped seeds <= 3x that of 1 seed.
Token counts are the benchmark's (batch x (seq_len - 1) predicted tokens per seed and step); MFU is model
FLOP/s (6 x params x tokens, attention excluded) over a matmul peak measured in the same process.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import benchlib  # noqa: E402

PAPER_TOKENS_PER_S = {768: 783e3, 1024: 604e3, 2048: 244e3}  # CIFAR-5M shape, fp32/TF32, the paper's code
PAPER_CHESS_TOKENS_PER_S = {1024: 1.08e6}
PAPER_MLP_SAMPLES_PER_S = {1024: 824e3, 2048: 458e3}
BF16_MFU = {768: 0.50, 1024: 0.60, 2048: 0.75}
MLP_MFU = {2048: 0.35}
SEEDS_WIDTH, SEEDS_MANY, SEEDS_MAX_COST = 768, 5, 3.0
CIFAR = {"seq_len": 1024, "batch": 64}
CHESS = {"seq_len": 128, "batch": 512}
MLP_BATCH = 4096
MIN_CASE_S = 20.0  # a case given less time than this (start, compile, a few segments) is skipped

# part -> cases: (script, arguments); each case is one benchmark invocation (one or more processes).
PARTS = {
    "cifar5m-bf16": [("bench_transformer.py", ["--paper", "cifar5m", "--widths", str(w), "--seeds", str(s),
                                               "--precision", "bfloat16", "--attention", "cudnn"])
                     for w, s in ((768, 1), (768, 5), (1024, 1), (2048, 1))],
    "cifar5m-fp32": [("bench_transformer.py", ["--paper", "cifar5m", "--widths", str(w), "--precision", "float32",
                                               "--attention", a])
                     for w in (768, 1024, 2048) for a in ("xla", "chunked")],
    # The chess part also times float32 with the rows streamed from host memory (data_placement host): no
    # target, the cost of streaming beside the same case on the device.
    "chess": [("bench_transformer.py", ["--paper", "chess", "--widths", "1024", "--precision", p,
                                        "--attention", a, "--data-placement", d])
              for p, a, d in (("float32", "xla", "device"), ("bfloat16", "cudnn", "device"),
                              ("float32", "xla", "host"))],
    "mlp": [("bench_mlp.py", ["--paper", "--widths", str(w), "--seeds", "1", "--precision", "float32", "bfloat16",
                              "--modes", "engine"]) for w in (1024, 2048)],
}


def _error_line(stderr: str, returncode: int) -> str:
    """The most telling line of a failed case's stderr: the last exception line (e.g. an XLA out-of-memory
    error), else the last line."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception)\b", line) and "RuntimeError: benchmark "
              "case" not in line]
    return (errors or lines or [f"exit status {returncode}"])[-1]


def run_part(part: str, results: Path, extra_args: list[str] | None = None, timeout_s: float = 1800,
             deadline: float | None = None) -> list[dict]:
    """Run every case of `part` (a failure becomes a row with its `error`); write <results>/<part>.parquet.
    `deadline` (time.monotonic()): no case runs past it; a case it leaves no time for is a row saying so."""
    rows = []
    for script, args in PARTS[part]:
        left = timeout_s if deadline is None else min(timeout_s, deadline - time.monotonic())
        if left < MIN_CASE_S:
            rows.append({"part": part, "case_args": shlex.join(args), "error": "skipped: the time budget was spent"})
            continue
        out = results / f".{part}.case.parquet"
        cmd = [sys.executable, str(HERE / script), *args, *(extra_args or []), "--out", str(out)]
        print(f"[{part}] {shlex.join(cmd[1:])}", file=sys.stderr, flush=True)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=left)
            error = None if proc.returncode == 0 else _error_line(proc.stderr, proc.returncode)
        except subprocess.TimeoutExpired:
            error = f"timed out after {left:.0f} s"
        if error is None:
            rows.extend({**r, "part": part, "case_args": shlex.join(args)} for r in pq.read_table(out).to_pylist())
        else:
            print(f"[{part}] failed: {error}", file=sys.stderr, flush=True)
            rows.append({"part": part, "case_args": shlex.join(args), "error": error[-500:]})
        out.unlink(missing_ok=True)
    benchlib.write_parquet(rows, results / f"{part}.parquet")
    return rows


def _best(rows: list[dict], key: str, **match) -> dict | None:
    """The row with the largest `key` among the successful rows whose fields equal `match`."""
    hits = [r for r in rows if r.get("error") is None and r.get(key) is not None
            and all(r.get(k) == v for k, v in match.items())]
    return max(hits, key=lambda r: r[key], default=None)


def _target(name: str, row: dict | None, key: str, threshold: float, at_most: bool = False,
            value: float | None = None) -> dict:
    measured = value if value is not None else (None if row is None else float(row[key]))
    met = None if measured is None else (measured <= threshold if at_most else measured >= threshold)
    how = "" if row is None else ", ".join(f"{k} {row[k]}" for k in ("precision", "attention", "placement")
                                           if row.get(k))
    return {"target": name, "measured": measured, "threshold": threshold, "comparison": "<=" if at_most else ">=",
            "met": met, "from": how or ("no row" if measured is None else "")}


def check_targets(rows: list[dict]) -> list[dict]:
    """One row per target: the measured value (None without a matching successful row), the threshold and
    whether it is met (None when not measured). `rows` are the benchmark rows of every part."""
    tf = [r for r in rows if r.get("model") == "transformer"]
    mlp = [r for r in rows if r.get("model") == "mlp" and r.get("mode", "engine") == "engine"]
    out = []
    for w, mfu in BF16_MFU.items():
        out.append(_target(f"cifar5m bf16 width {w}: MFU", _best(tf, "mfu", width=w, seeds=1, precision="bfloat16",
                                                                 **CIFAR), "mfu", mfu))
    for w, base in PAPER_TOKENS_PER_S.items():
        out.append(_target(f"cifar5m fp32 width {w}: tokens/s (2x paper)",
                           _best(tf, "tokens_per_s", width=w, seeds=1, precision="float32", **CIFAR),
                           "tokens_per_s", 2 * base))
    for w, base in PAPER_CHESS_TOKENS_PER_S.items():
        out.append(_target(f"chess fp32 width {w}: tokens/s (2x paper)",
                           _best(tf, "tokens_per_s", width=w, seeds=1, precision="float32", **CHESS),
                           "tokens_per_s", 2 * base))
    for w, base in PAPER_MLP_SAMPLES_PER_S.items():
        out.append(_target(f"mlp fp32 width {w}: samples/s (2x paper)",
                           _best(mlp, "samples_per_s", width=w, seeds=1, precision="float32", batch=MLP_BATCH),
                           "samples_per_s", 2 * base))
    for w, mfu in MLP_MFU.items():
        out.append(_target(f"mlp width {w}: MFU", _best(mlp, "mfu", width=w, seeds=1, batch=MLP_BATCH), "mfu", mfu))
    one = _best(tf, "tokens_per_s", width=SEEDS_WIDTH, seeds=1, precision="bfloat16", **CIFAR)
    many = _best(tf, "tokens_per_s", width=SEEDS_WIDTH, seeds=SEEDS_MANY, precision="bfloat16", **CIFAR)
    ratio = None if one is None or many is None else many["step_ms"] / one["step_ms"]
    out.append(_target(f"cifar5m bf16 width {SEEDS_WIDTH}: step time of {SEEDS_MANY} seeds / 1 seed", many,
                       "step_ms", SEEDS_MAX_COST, at_most=True, value=ratio))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", nargs="+", choices=sorted(PARTS), default=[], help="parts to run")
    parser.add_argument("--check-only", action="store_true", help="only check the parts' existing results")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "targets")
    parser.add_argument("--bench-args", default="",
                        help="extra arguments for every benchmark invocation, given last so they override the "
                             "part's own; write it as --bench-args='--repeats 3'")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="wall-clock budget for all parts together: cases it leaves no time for are skipped "
                             "(rows saying so), the parts in the order given")
    args = parser.parse_args(argv)
    if not args.part and not args.check_only:
        parser.error("give --part (one or more of: " + ", ".join(sorted(PARTS)) + ") or --check-only")
    args.results.mkdir(parents=True, exist_ok=True)
    deadline = None if args.budget_s is None else time.monotonic() + args.budget_s
    for part in args.part:
        run_part(part, args.results, shlex.split(args.bench_args), deadline=deadline)

    rows = [r for part in sorted(PARTS) if (args.results / f"{part}.parquet").exists()
            for r in pq.read_table(args.results / f"{part}.parquet").to_pylist()]
    failed = [r for r in rows if r.get("error")]
    targets = check_targets(rows)
    benchlib.write_parquet(targets, args.results / "targets.parquet")
    device = next((r["device"] for r in rows if r.get("device")), "no successful case")
    print(f"issue 4 targets on {device}; rows in {args.results}\n")
    benchlib.print_table(targets, [("target", ""), ("measured", ",.4g"), ("comparison", ""), ("threshold", ",.4g"),
                                   ("met", ""), ("from", "")])
    for r in failed:
        print(f"\nfailed case ({r['part']}): {r['case_args']}\n  {r['error']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
