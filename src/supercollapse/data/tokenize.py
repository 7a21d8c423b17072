"""Tokenizers of the transformer tasks' sources: raw data -> rows of seq_len token ids (schema TOKENS).

Sources (`data.source`): `offline_chess` (random legal games, no input files), `lichess` (downloaded Parquet
shards), `cifar5m` (downloaded npz shards). Work is spread over `workers` processes (`_start_method`): units are
blocks of games, Parquet row groups or blocks of images, and every random choice is seeded per unit, so the
output does not depend on the number of workers. Results come back in order and are written as they come.

Splits. Chess: each game goes to test or train (offline: the first round(test_fraction * n_games) games,
which are i.i.d.; Lichess: a seeded coin per game with probability test_fraction), then each split's games
form one BOS..EOS stream cut into rows of seq_len; rows keep stream order, so training should sample rows
at random. CIFAR-5M: round(test_fraction * images) images drawn without replacement with the seed; one
image per row (seq_len 1024).
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from . import chess as chess_tok
from .tokens import RowCutter, TokenWriter

GAMES_PER_UNIT = 64  # offline games per worker task: about 0.1-1 s of work
IMAGES_PER_UNIT = 16384


def _start_method() -> str:
    """fork, the cheapest, unless JAX is loaded in this process: forking its multithreaded runtime can deadlock
    the child (JAX warns), so then forkserver, whose workers start from a clean server process. The rule's
    script never imports JAX (tested); a caller that has (a test, a notebook) gets forkserver, which like
    spawn imports the caller's main module in the workers, so that module must be import-safe."""
    return "forkserver" if "jax" in sys.modules else "fork"


def _pool_map(fn: Callable, units: Iterable, workers: int) -> Iterator:
    """fn over units, results in order; in-process when workers == 1 (tests, debugging)."""
    units = list(units)
    if workers <= 1 or len(units) <= 1:
        yield from (fn(*u) for u in units)
        return
    with multiprocessing.get_context(_start_method()).Pool(min(workers, len(units))) as pool:
        yield from pool.imap(_Star(fn), units)


class _Star:
    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, args):
        return self.fn(*args)


# ---- offline chess -------------------------------------------------------------------------------------------
def _offline_unit(seed: int, start: int, stop: int, max_plies: int, elo_suffix: bool):
    from .chess_offline import encode_random_games

    return encode_random_games(seed, start, stop, max_plies, elo_suffix)


def offline_chess(cfg: dict, inputs: list[str], train: TokenWriter, test: TokenWriter, workers: int) -> dict:
    n_games, seed = int(cfg["n_games"]), int(cfg["seed"])
    n_test = int(round(cfg["test_fraction"] * n_games))
    if not 0 < n_test < n_games:
        raise ValueError(f"data.test_fraction {cfg['test_fraction']} of data.n_games {n_games} gives {n_test} "
                         "test games; need at least one test and one train game")
    bounds = sorted({0, n_test, n_games, *range(0, n_games, GAMES_PER_UNIT)})
    units = [(seed, a, b, int(cfg["max_plies"]), bool(cfg["elo_suffix"])) for a, b in zip(bounds, bounds[1:])]
    cutters = {"train": RowCutter(train.seq_len), "test": RowCutter(test.seq_len)}
    writers = {"train": train, "test": test}
    stats = {s: {"games": 0, "tokens": 0, "entropy_nats": 0.0, "plies": 0} for s in writers}
    for (_, a, _, _, _), (stream, lengths, entropies) in zip(units, _pool_map(_offline_unit, units, workers)):
        split = "test" if a < n_test else "train"
        writers[split].write(cutters[split].feed(stream))
        st = stats[split]
        st["games"] += len(lengths)
        st["tokens"] += int(lengths.sum())
        st["entropy_nats"] += float(entropies.sum())
    for split, cutter in cutters.items():
        stats[split]["dropped_tokens"] = cutter.close()
        st = stats[split]
        st["entropy_floor_nats_per_token"] = st["entropy_nats"] / st["tokens"]
    return {
        "games": {s: stats[s]["games"] for s in stats},
        "stream_tokens": {s: stats[s]["tokens"] for s in stats},
        "dropped_tokens": {s: stats[s]["dropped_tokens"] for s in stats},
        "entropy_nats": {s: stats[s]["entropy_nats"] for s in stats},
        "entropy_floor_nats_per_token": stats["test"]["entropy_floor_nats_per_token"],
        "entropy_floor_nats_per_token_train": stats["train"]["entropy_floor_nats_per_token"],
        "entropy_floor_method": (
            "Entropy rate of the test split's token stream: sum over its games of sum over plies of "
            "log(number of legal moves), divided by the stream's tokens (BOS and EOS included). The move choice "
            "is the only randomness: separators, the result, game end (game over without claims, or the ply "
            "cap), the suffix, EOS and BOS are functions of the moves (data/chess_offline.py). A lower bound on "
            "the expected next-token cross-entropy; rows see no context before their start, which only raises "
            "the achievable loss."),
    }


# ---- lichess ---------------------------------------------------------------------------------------------------
def _lichess_unit(path: str, shard: int, row_group: int, seed: int, test_fraction: float, elo_suffix: bool):
    """One row group of a shard -> its train and test token streams. Games are read in record batches, so a
    large row group never becomes millions of Python strings at once."""
    import pyarrow.parquet as pq

    from .lichess import ELO_COLUMNS

    columns = ["movetext", *(ELO_COLUMNS if elo_suffix else ())]
    rng = np.random.default_rng([seed, shard, row_group])
    parts: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    games = {"train": 0, "test": 0}
    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=8192, row_groups=[row_group], columns=columns)
        for batch in batches:
            movetexts = batch.column("movetext").to_pylist()
            n = len(movetexts)
            welos = batch.column("WhiteElo").to_pylist() if elo_suffix else [None] * n
            belos = batch.column("BlackElo").to_pylist() if elo_suffix else [None] * n
            is_test = rng.random(n) < test_fraction
            for i in range(n):
                split = "test" if is_test[i] else "train"
                try:
                    ids = chess_tok.encode_game(_movetext(movetexts[i]), welos[i], belos[i], elo_suffix)
                except ValueError as err:
                    raise ValueError(f"game {sum(games.values())} of the row group: {err}") from None
                parts[split].append(ids)
                games[split] += 1
    except ValueError as err:
        raise ValueError(f"{path}: row group {row_group}: {err}") from None
    except Exception as err:  # noqa: BLE001 (an Arrow/IO error while reading: name the file and row group)
        raise ValueError(f"{path}: cannot read row group {row_group} ({type(err).__name__}: {err})") from None
    return {split: (np.concatenate(p) if p else np.empty(0, np.uint16), games[split]) for split, p in parts.items()}


def _movetext(value) -> str:
    if value is None:
        raise ValueError("a game has a null movetext")
    return value


def lichess(cfg: dict, inputs: list[str], train: TokenWriter, test: TokenWriter, workers: int) -> dict:
    import pyarrow.parquet as pq

    from .lichess import check_shard

    shards = [int(s) for s in cfg["shards"]]
    if len(inputs) != len(shards):
        raise ValueError(f"lichess: {len(inputs)} input files for {len(shards)} shards in data.shards")
    units = []
    for path, shard in zip(inputs, shards):
        check_shard(path, bool(cfg["elo_suffix"]))
        for rg in range(pq.ParquetFile(path).num_row_groups):
            units.append((str(path), shard, rg, int(cfg["seed"]), float(cfg["test_fraction"]), bool(cfg["elo_suffix"])))
    cutters = {"train": RowCutter(train.seq_len), "test": RowCutter(test.seq_len)}
    writers = {"train": train, "test": test}
    games = {"train": 0, "test": 0}
    tokens = {"train": 0, "test": 0}
    for result in _pool_map(_lichess_unit, units, workers):
        for split, (stream, n) in result.items():
            writers[split].write(cutters[split].feed(stream))
            games[split] += n
            tokens[split] += len(stream)
    return {"games": games, "stream_tokens": tokens,
            "dropped_tokens": {s: c.close() for s, c in cutters.items()}}


# ---- cifar-5m --------------------------------------------------------------------------------------------------
def _cifar_unit(path: str, start: int, stop: int):
    from .cifar5m import tokenize_slice

    return tokenize_slice(path, start, stop)


def cifar5m(cfg: dict, inputs: list[str], train: TokenWriter, test: TokenWriter, workers: int) -> dict:
    from .cifar5m import TOKENS_PER_IMAGE, open_images

    if train.seq_len != TOKENS_PER_IMAGE:
        raise ValueError(f"cifar5m: data.seq_len must be {TOKENS_PER_IMAGE} (one image per row), got {train.seq_len}")
    counts = [len(open_images(p)) for p in inputs]
    total = sum(counts)
    n_test = int(round(cfg["test_fraction"] * total))
    if not 0 < n_test < total:
        raise ValueError(f"data.test_fraction {cfg['test_fraction']} of {total} images gives {n_test} test images")
    is_test = np.zeros(total, bool)
    is_test[np.random.default_rng(int(cfg["seed"])).choice(total, n_test, replace=False)] = True
    units, offsets = [], []
    base = 0
    for path, n in zip(inputs, counts):
        for a in range(0, n, IMAGES_PER_UNIT):
            units.append((str(path), a, min(n, a + IMAGES_PER_UNIT)))
            offsets.append(base + a)
        base += n
    for (_, a, b), offset, rows in zip(units, offsets, _pool_map(_cifar_unit, units, workers)):
        mask = is_test[offset:offset + (b - a)]
        test.write(rows[mask])
        train.write(rows[~mask])
    return {"images": {"train": total - n_test, "test": n_test}, "images_per_part": dict(zip(map(str, inputs), counts))}


# data.source -> its tokenizer: (data config, input files, train writer, test writer, workers) -> details for
# meta.json. `inputs` are the downloaded files (none for offline_chess).
TOKENIZERS = {"offline_chess": offline_chess, "lichess": lichess, "cifar5m": cifar5m}
