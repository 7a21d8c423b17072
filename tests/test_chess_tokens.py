import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from supercollapse.data import chess as c
from supercollapse.data.chess_offline import encode_random_games, random_game
from supercollapse.stages.tokens import tokenize_task
from supercollapse.data.tokens import read_tokens
from supercollapse.io import read_json

# Lichess-style movetext: clock/eval comments, move numbers with '...', an annotation glyph, a NAG, a result.
MOVETEXT = ("1. e4 { [%clk 0:03:00] } 1... e5 { [%clk 0:03:00] } 2. Bc4 { [%clk 0:02:58] } 2... Nc6 "
            "{ [%clk 0:02:59] } 3. Qh5 $1 { [%clk 0:02:57] } 3... Nf6?? { [%eval #1] [%clk 0:02:50] } "
            "4. Qxf7# { [%clk 0:02:55] } 1-0")
TEXT = "e4,e5;Bc4,Nc6;Qh5,Nf6??;Qxf7#,1-0;"
FEN = "r1bqkb1r/pppp1Qpp/2n2n2/4p3/2B1P3/8/PPPP1PPP/RNB1K1NR b KQkq - 0 4"
IDS = [0, 28, 16, 2, 28, 17, 3, 35, 26, 16, 2, 36, 26, 18, 3, 33, 31, 17, 2, 36, 29, 18, 7, 7, 3, 33, 23, 29, 19,
       5, 2, 13, 22, 12, 3, 1]


def test_golden_movetext():
    assert c.game_text(MOVETEXT) == TEXT
    assert c.encode_game(MOVETEXT).tolist() == IDS
    assert c.game_text(MOVETEXT, 1500, None, elo_suffix=True) == f"{TEXT}|1500|?|{FEN}"


def test_vocabulary_is_fixed_and_documented():
    assert c.VOCAB[:2] == ("<BOS>", "<EOS>") and (c.BOS_ID, c.EOS_ID) == (0, 1)
    assert len(c.VOCAB) == 53 and len(set(c.VOCAB)) == 53
    assert c.VOCAB.index("e") == 28 and c.VOCAB.index("|") == 46


def test_round_trip_on_random_games():
    for g in range(20):
        text = c.game_text(random_game(7, g, 300).movetext, 2100, 1999, elo_suffix=True)
        assert c.decode(c.encode(text)) == f"<BOS>{text}<EOS>"
        assert c.decode(c.encode(text, bos=False, eos=False)) == text


def test_unknown_character_is_named():
    with pytest.raises(ValueError, match="'Z'"):
        c.encode("e4,Z")
    with pytest.raises(ValueError, match="'é'"):
        c.encode("e4é")
    with pytest.raises(ValueError, match="illegal or unparsable move 'Ke3'"):
        c.game_text("1. e4 e5 2. Ke3 *", elo_suffix=True)


def test_entropy_floor_closed_cases():
    # From the start position White has 20 moves, and Black has 20 replies to each of them.
    for max_plies, plies_entropy in ((1, math.log(20)), (2, 2 * math.log(20))):
        stream, lengths, entropies = encode_random_games(3, 0, 50, max_plies, elo_suffix=False)
        np.testing.assert_allclose(entropies, plies_entropy)
        assert lengths.sum() == len(stream)
    game = random_game(3, 0, 2)
    assert game.movetext.endswith(" *") and game.plies == 2  # the cap gives the result '*'


def test_games_end_by_the_rules_and_are_deterministic():
    games = [random_game(0, g, 400) for g in range(30)]
    assert [g.movetext for g in games] == [random_game(0, g, 400).movetext for g in range(30)]
    ended = [g for g in games if not g.movetext.endswith("*")]
    assert ended, "some random games should end before 400 plies"
    assert all(g.movetext.split()[-1] in ("1-0", "0-1", "1/2-1/2") for g in ended)


def test_offline_stage_is_independent_of_workers(tmp_path):
    cfg = dict(source="offline_chess", seq_len=32, test_fraction=0.25, seed=1, eval_sequences=4, n_games=40,
               max_plies=30, elo_suffix=True, mask_zero_targets=False)
    metas = []
    for w in (1, 2):
        d = tmp_path / f"w{w}"
        metas.append(tokenize_task(cfg, [], d / "train.parquet", d / "test.parquet", d / "meta.json", workers=w))
    np.testing.assert_array_equal(read_tokens(tmp_path / "w1/train.parquet"), read_tokens(tmp_path / "w2/train.parquet"))
    meta = read_json(tmp_path / "w1/meta.json")
    assert meta["sha256"] == metas[1]["sha256"]
    assert meta["vocab_size"] == 53 and meta["seq_len"] == 32 and meta["bos_id"] == 0
    test = read_tokens(tmp_path / "w1/test.parquet")
    assert test.shape == (meta["n_test"], 32) and meta["games"] == {"train": 30, "test": 10}
    # The rows are the test games' stream, cut: game by game, BOS text EOS.
    stream = np.concatenate([c.encode_game(random_game(1, g, 30).movetext, elo_suffix=True) for g in range(10)])
    np.testing.assert_array_equal(test.reshape(-1), stream[: test.size])
    floor = meta["entropy_nats"]["test"] / meta["stream_tokens"]["test"]
    assert meta["entropy_floor_nats_per_token"] == pytest.approx(floor) and 0 < floor < math.log(53)


def test_too_few_test_rows_names_the_key(tmp_path):
    cfg = dict(source="offline_chess", seq_len=32, test_fraction=0.1, seed=1, eval_sequences=10_000, n_games=20,
               max_plies=10, elo_suffix=False)
    with pytest.raises(ValueError, match="eval_sequences"):
        tokenize_task(cfg, [], tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "m.json")


def test_the_tokenize_script_does_not_load_jax():
    """The tokenizer forks its workers when JAX is not loaded (fork is unsafe once JAX's threads run): the rule's
    script and every data module it imports must stay free of JAX."""
    script = Path(__file__).parents[1] / "workflow/scripts/tokenize.py"
    imports = [line.split(" import ")[0].replace("from ", "").strip() for line in script.read_text().splitlines()
               if line.startswith("from supercollapse")]
    assert "supercollapse.stages.tokens" in imports
    code = ("import sys; sys.path.insert(0, 'src'); import importlib; "
            + "; ".join(f"importlib.import_module({m!r})" for m in imports + ["supercollapse.data.lichess",
                                                                             "supercollapse.data.cifar5m"])
            + "; from supercollapse.data.tokenize import _start_method; "
            + "print('jax' in sys.modules, _start_method())")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1], capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["False", "fork"]


def test_workers_start_from_a_server_once_jax_is_loaded():
    import jax  # noqa: F401  (loaded: forking now could deadlock a worker)

    from supercollapse.data.tokenize import _start_method

    assert _start_method() == "forkserver"
