"""The data rules end to end under Snakemake: downloads from a local HTTP server, tokenization of the three
sources, and no second download when the data is already there."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from http_fixture import FileServer

from helpers import TINY, copy_project, snakemake, write_config
from supercollapse.data import chess
from supercollapse.data.cifar5m import grayscale_tokens
from supercollapse.data.tokens import read_tokens

GAMES = ["1. e4 { [%clk 0:03:00] } 1... e5 2. Qh5 Nc6 3. Bc4 Nf6?? 4. Qxf7# 1-0",
         "1. d4 d5 2. c4 dxc4 3. e3 b5 4. a4 c6 5. axb5 cxb5 6. Qf3 1-0",
         "1. Nf3 Nf6 2. g3 g6 3. Bg2 Bg7 4. O-O O-O 1/2-1/2"]


@pytest.mark.slow
def test_download_and_tokenize_rules(tmp_path):
    root = tmp_path / "server"
    n_games = 600
    for shard in (0, 1):
        path = root / "lichess" / "year=2025" / "month=01" / f"train-0000{shard}-of-00072.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"movetext": [GAMES[(i + shard) % 3] for i in range(n_games)],
                                 "WhiteElo": [1500 + i for i in range(n_games)],
                                 "BlackElo": [None if i % 7 == 0 else 1400 for i in range(n_games)]}),
                       path, row_group_size=256)
    images = np.random.default_rng(0).integers(0, 256, (300, 32, 32, 3), dtype=np.uint8)
    (root / "cifar").mkdir()
    np.savez(root / "cifar" / "part0.npz", X=images, Y=np.zeros(300, np.uint8))

    proj = copy_project(tmp_path / "proj")
    cfg = copy.deepcopy(TINY)
    base = {k: v for k, v in cfg["tasks"]["fourier"].items() if k != "data"} | {"kind": "transformer"}
    cfg["tasks"] = {
        "chess": base | {"data": {"source": "offline_chess", "n_games": 60, "max_plies": 40, "seq_len": 32,
                                  "test_fraction": 0.25, "eval_sequences": 8}},
        "lichess": base | {"data": {"source": "lichess", "shards": [0, 1], "seq_len": 64, "test_fraction": 0.2,
                                    "eval_sequences": 8}},
        "cifar": base | {"data": {"source": "cifar5m", "parts": [0], "test_fraction": 0.1, "eval_sequences": 8,
                                  "mask_zero_targets": True}},
    }
    targets = [f"results/{t}/data/meta.json" for t in cfg["tasks"]]
    with FileServer(root) as server:
        cfg["download"] = {"lichess_base_url": f"{server.url}/lichess", "cifar5m_base_url": f"{server.url}/cifar"}
        write_config(proj, cfg)
        snakemake(proj, "--cores", "2", *targets)
        assert sorted(p for p, _ in server.requests) == [
            "/cifar/part0.npz", "/lichess/year=2025/month=01/train-00000-of-00072.parquet",
            "/lichess/year=2025/month=01/train-00001-of-00072.parquet"]
        # A rerun of the download jobs (forced) finds the files present and verified: no new request.
        snakemake(proj, "--cores", "2", *targets, "--forcerun", "download_lichess", "download_cifar5m")
        assert len(server.requests) == 3

    res = proj / "results"
    meta = json.loads((res / "lichess/data/meta.json").read_text())
    assert meta["games"]["train"] + meta["games"]["test"] == 2 * n_games and meta["games"]["test"] > 0
    assert meta["vocab"] == list(chess.VOCAB) and meta["config"]["elo_suffix"] is True
    assert "train-00000-of-00072.parquet" in meta["sha256"]
    train = read_tokens(res / "lichess/data/train.parquet")
    assert train.shape == (meta["n_train"], 64)
    text = chess.decode(train[:20].reshape(-1))
    assert "<EOS><BOS>" in text and "|?|" in text  # null Elo -> '?' 
    # The first training game of shard 0 is game 0 unless the coin sent it to test; either way a full game.
    first = text.split("<EOS>")[0]
    assert first.startswith("<BOS>") and first[5:].split("|")[0] in {chess.game_text(g) for g in GAMES}

    meta = json.loads((res / "cifar/data/meta.json").read_text())
    assert (meta["n_train"], meta["n_test"], meta["vocab_size"], meta["bos_id"]) == (270, 30, 256, None)
    assert meta["mask_zero_targets"] is True
    rows = np.concatenate([read_tokens(res / "cifar/data/train.parquet"), read_tokens(res / "cifar/data/test.parquet")])
    expected = grayscale_tokens(images)
    assert sorted(map(bytes, rows)) == sorted(map(bytes, expected))  # every image once, across the split

    meta = json.loads((res / "chess/data/meta.json").read_text())
    assert meta["source"] == "offline_chess" and 0 < meta["entropy_floor_nats_per_token"] < np.log(53)
    assert not list(res.rglob("*.tmp*"))


@pytest.mark.parametrize("data,expected", [
    ({"source": "offline_chess", "input_dim": 4}, "input_dim"),
    ({"source": "offline_chess", "month": "2025-01"}, "'month' is not one of"),
    ({"source": "cifar5m", "seq_len": 128}, "1024 was expected"),
    ({"source": "lichess", "month": "2025-13"}, "2025-13"),
    ({"source": "imagenet"}, "imagenet"),
    ({}, "'source' is a required property"),
])
def test_bad_token_data_config_names_the_key(data, expected):
    from snakemake.utils import validate

    from helpers import ROOT

    cfg = copy.deepcopy(TINY)
    cfg["tasks"]["chess"] = {**copy.deepcopy(cfg["tasks"]["fourier"]), "kind": "transformer", "data": data}
    with pytest.raises(Exception, match=expected):
        validate(cfg, str(ROOT / "workflow/schemas/config.schema.yaml"))


def test_token_data_defaults_per_source():
    from snakemake.utils import validate

    from helpers import ROOT

    cfg = copy.deepcopy(TINY)
    for source in ("offline_chess", "lichess", "cifar5m"):
        cfg["tasks"][source] = {**copy.deepcopy(cfg["tasks"]["fourier"]), "kind": "transformer",
                                "data": {"source": source}}
    validate(cfg, str(ROOT / "workflow/schemas/config.schema.yaml"))
    t = cfg["tasks"]
    assert t["offline_chess"]["data"]["elo_suffix"] is False and t["lichess"]["data"]["elo_suffix"] is True
    assert t["lichess"]["data"]["shards"] == list(range(36)) and t["lichess"]["data"]["month"] == "2025-01"
    assert t["cifar5m"]["data"]["seq_len"] == 1024 and t["cifar5m"]["data"]["mask_zero_targets"] is False
    assert "input_dim" not in t["lichess"]["data"] and t["fourier"]["data"]["input_dim"] == 4


def test_tokenizer_code_does_not_retrain_the_fourier_task(tmp_path):
    import shutil

    import supercollapse
    from supercollapse.codehash import source_hash

    pkg = tmp_path / "supercollapse"
    shutil.copytree(Path(supercollapse.__file__).parent, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    before = {f: source_hash(pkg, f) for f in ("data", "tokens", "train")}
    for name in ("data/chess.py", "data/download.py", "data/cifar5m.py", "stages/tokens.py"):
        (pkg / name).write_text((pkg / name).read_text() + "\n_CHANGED = 1\n")
    after = {f: source_hash(pkg, f) for f in ("data", "tokens", "train")}
    assert after["data"] == before["data"] and after["train"] == before["train"]
    assert after["tokens"] != before["tokens"]
    (pkg / "data" / "tokens.py").write_text((pkg / "data" / "tokens.py").read_text() + "\n_CHANGED = 1\n")
    assert source_hash(pkg, "train") != before["train"]  # the reader is training code
