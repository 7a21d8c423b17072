"""Throughput of the tokenize stage (stages/tokens.py, data/tokenize.py): Lichess games/s and CIFAR-5M images/s, 1 and N workers.

Fixtures are made locally in a temporary folder, in the real formats:
  lichess   one Parquet shard of Lichess-style movetext (move numbers, '1...' black numbers, a clock comment
            after every move, the result), as the Hugging Face dataset stores it; the games are random legal
            games (`--distinct` of them, repeated to `--games`: parsing costs the same for a repeat);
  cifar5m   one uncompressed npz part of random (N, 32, 32, 3) uint8 images, as np.savez writes it.
Each case runs the whole stage (read, tokenize, cut rows, write train/test Parquet, hash outputs), so the
rates include I/O. Lichess runs with the Elo/FEN suffix off and on (the suffix replays every game).

  python benchmarks/bench_tokenize.py                   # 20k games, 200k images, workers 1 and 2
  python benchmarks/bench_tokenize.py --games 5000 --images 50000 --workers 1 2 4

Results: a Markdown table on stdout and benchmarks/results/tokenize.parquet (one row per case).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # the package beside the benchmarks

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from supercollapse.data.chess_offline import random_game  # noqa: E402
from supercollapse.stages.tokens import tokenize_task  # noqa: E402
from supercollapse.io import write_table  # noqa: E402


def lichess_movetext(movetext: str) -> str:
    """Our offline movetext ('1. e4 e5 2. ...') in the Lichess export style, with clock comments."""
    out, clock = [], 180
    tokens = movetext.split()
    result = tokens.pop()
    ply = 0
    for tok in tokens:
        if tok.endswith("."):
            continue
        number = ply // 2 + 1
        out.append(f"{number}." if ply % 2 == 0 else f"{number}...")
        clock = max(0, clock - 1)
        out.append(f"{tok} {{ [%clk 0:{clock // 60:02d}:{clock % 60:02d}] }}")
        ply += 1
    return " ".join([*out, result])


def make_lichess_shard(path: Path, games: int, distinct: int, max_plies: int) -> float:
    texts = [lichess_movetext(random_game(12345, g, max_plies).movetext) for g in range(distinct)]
    movetext = [texts[i % distinct] for i in range(games)]
    elos = np.random.default_rng(0).integers(800, 2800, size=(2, games))
    pq.write_table(pa.table({"movetext": movetext, "WhiteElo": elos[0], "BlackElo": elos[1]}), path,
                   row_group_size=max(1, games // 32))
    return float(np.mean([len(t) for t in texts]))


def _cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the pool's workers, once the pool has closed)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_case(cfg: dict, inputs: list, workdir: Path, workers: int) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of all processes, meta)."""
    out = [workdir / "train.parquet", workdir / "test.parquet", workdir / "meta.json"]
    t0, c0 = time.perf_counter(), _cpu_seconds()
    meta = tokenize_task(cfg, inputs, *out, workers=workers)
    return time.perf_counter() - t0, _cpu_seconds() - c0, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", type=int, default=20000)
    parser.add_argument("--distinct", type=int, default=400, help="distinct random games in the shard")
    parser.add_argument("--max-plies", type=int, default=80, help="ply cap of the random games (Lichess mean ~70)")
    parser.add_argument("--images", type=int, default=200_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default=str(HERE / "results" / "tokenize.parquet"))
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_tokenize_") as tmp:
        tmp = Path(tmp)
        shard = tmp / "train-00000-of-00001.parquet"
        mean_chars = make_lichess_shard(shard, args.games, args.distinct, args.max_plies)
        npz = tmp / "cifar5m_part0.npz"
        images = np.random.default_rng(0).integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
        np.savez(npz, X=images, Y=np.zeros(args.images, np.uint8))
        del images
        for workers in args.workers:
            for suffix in (False, True):
                cfg = {"source": "lichess", "seq_len": 128, "test_fraction": 0.01, "seed": 0, "eval_sequences": 1,
                       "month": "2025-01", "n_shards": 1, "shards": [0], "elo_suffix": suffix}
                dt, cpu, meta = run_case(cfg, [shard], tmp / "out", workers)
                tokens = sum(meta["stream_tokens"].values())
                rows.append({"case": f"lichess suffix={'on' if suffix else 'off'}", "workers": workers,
                             "items": args.games, "seconds": dt, "cpu_seconds": cpu, "items_per_s": args.games / dt,
                             "tokens_per_s": tokens / dt, "unit": "games"})
            cfg = {"source": "cifar5m", "seq_len": 1024, "test_fraction": 0.001, "seed": 0, "eval_sequences": 1,
                   "parts": [0]}
            dt, cpu, meta = run_case(cfg, [npz], tmp / "out", workers)
            rows.append({"case": "cifar5m", "workers": workers, "items": args.images, "seconds": dt, "cpu_seconds": cpu,
                         "items_per_s": args.images / dt, "tokens_per_s": args.images * 1024 / dt, "unit": "images"})
    print(f"CPU cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}; Lichess movetext mean "
          f"{mean_chars:.0f} characters per game")
    print("| case | workers | items | wall s | CPU s | CPU/wall | items/s | items per CPU-s | tokens/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['workers']} | {r['items']} {r['unit']} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | "
              f"{r['cpu_seconds'] / r['seconds']:.2f} | {r['items_per_s']:,.0f} | {r['items'] / r['cpu_seconds']:,.0f} | "
              f"{r['tokens_per_s']:,.0f} |")
    write_table(args.out, pa.Table.from_pylist(rows))


if __name__ == "__main__":
    main()
