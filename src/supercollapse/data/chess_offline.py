"""An offline chess corpus: random legal games, written as Lichess-style movetext and passed through the
same tokenizer as Lichess (data.chess), so the real tokenization path runs without network.

The process: from the start position, each ply picks a move uniformly among the legal moves; the game ends
when python-chess declares it over without a claim (checkmate, stalemate, insufficient material, the
75-move rule, fivefold repetition; result from `Board.result()`), or after `max_plies` plies (result '*').
Game g uses the generator `numpy.random.default_rng([seed, g])`, so a game does not depend on how games
are split over worker processes.

Entropy floor. Given everything before it, the only random part of a game's text is the choice of each
move, uniform over n legal moves. Everything else is a function of the moves so far: whether the game goes
on (the game-over rules and the ply cap read only the move history), the result token, every ',' ';'
separator, the suffix (ratings are '?', the final FEN follows from the moves), EOS, and the BOS after it.
Distinct legal moves have distinct SAN strings, and the separator ends each one, so the characters of a
move carry exactly log n nats in total. Hence the entropy of a game's tokens given all earlier tokens of
the stream is H_g = sum over its plies of log n_ply, and the entropy rate of a split's token stream is
sum_g H_g / (its number of tokens). This is a lower bound on the expected next-token loss per token; the
model can only do worse, as each row sees no context before its own start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .chess import encode_game


@dataclass(frozen=True)
class RandomGame:
    movetext: str  # Lichess-style: "1. e4 e5 2. Nf3 *"
    entropy_nats: float  # sum over plies of log(number of legal moves)
    plies: int


def random_game(seed: int, index: int, max_plies: int) -> RandomGame:
    import chess

    rng = np.random.default_rng([int(seed), int(index)])
    board = chess.Board()
    parts: list[str] = []
    entropy = 0.0
    while board.ply() < max_plies and not board.is_game_over(claim_draw=False):
        moves = list(board.legal_moves)
        move = moves[int(rng.integers(len(moves)))]
        entropy += math.log(len(moves))
        if board.turn == chess.WHITE:
            parts.append(f"{board.fullmove_number}.")
        parts.append(board.san(move))
        board.push(move)
    parts.append(board.result(claim_draw=False))  # '*' when the ply cap ended a game that is not over
    return RandomGame(" ".join(parts), entropy, board.ply())


def encode_random_games(seed: int, start: int, stop: int, max_plies: int,
                        elo_suffix: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Games start..stop-1 as one token stream, with each game's token count and entropy (nats)."""
    ids, lengths, entropies = [], [], []
    for g in range(start, stop):
        game = random_game(seed, g, max_plies)
        tokens = encode_game(game.movetext, None, None, elo_suffix)
        ids.append(tokens)
        lengths.append(len(tokens))
        entropies.append(game.entropy_nats)
    stream = np.concatenate(ids) if ids else np.empty(0, np.uint16)
    return stream, np.array(lengths, np.int64), np.array(entropies, np.float64)
