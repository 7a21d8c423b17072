"""The chess tokenizer: PGN movetext -> one character string per game -> token ids.

The format follows the paper's preprocessing (facts read from the authors' public code, none of it copied):
- Move numbers (``12.``, ``12...``) and ``{...}`` comments are removed, whitespace collapses, and what is
  left splits on spaces into *elements*: the SAN moves with any annotation glyphs (``?!``) and, last, the
  result token (``1-0``, ``0-1``, ``1/2-1/2``, ``*``), which the paper keeps. Element i is followed by ','
  when i is even (White's move) and ';' when odd, so ``1. e4 e5 2. Nf3 1-0`` gives ``e4,e5;Nf3,1-0;``.
  Numeric annotation glyphs (``$1``) are dropped too: Lichess exports none, and '$' is outside the paper's
  character set.
- Optional suffix ``|WhiteElo|BlackElo|FEN``: the players' ratings (``?`` when unknown) and the full FEN of
  the final position, replayed with python-chess.
- Each game becomes ``<BOS> text <EOS>``; games are concatenated into one flat stream that is cut into
  fixed-length rows (tokens.RowCutter), so rows do not align with games.

Vocabulary: a fixed character set, the paper's (its list holds 'b' twice; we keep one), so every corpus —
Lichess and the offline random games — shares ids. BOS = 0, EOS = 1, then the characters in VOCAB order.
An unknown character is an error that names it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

BOS, EOS = "<BOS>", "<EOS>"
CHARACTERS = (
    ",;+#=?!\n /"
    "0123456789"
    "-x"
    "abcdefgh"
    "KQRBNOP"
    "()"
    "lkv:*|"
    "rnqpwm"
)
VOCAB: tuple[str, ...] = (BOS, EOS, *CHARACTERS)
BOS_ID, EOS_ID = 0, 1
RESULTS = frozenset({"1-0", "0-1", "1/2-1/2", "*"})

assert len(set(CHARACTERS)) == len(CHARACTERS), "duplicate character in the chess vocabulary"

# Character -> id lookup over byte values; -1 marks characters outside the vocabulary.
_LUT = np.full(256, -1, dtype=np.int32)
for _i, _ch in enumerate(CHARACTERS, start=2):
    _LUT[ord(_ch)] = _i

_MOVE_NUMBER = re.compile(r"\d+\.\.?\.?\s*")
_COMMENT = re.compile(r"\{[^}]*\}")
_NAG = re.compile(r"\$\d+")
_GLYPHS = re.compile(r"[?!]+$")


def movetext_elements(movetext: str) -> list[str]:
    """SAN moves (with their glyphs) and the result token of a PGN movetext, in order.

    Move numbers go before comments, as in the paper: a number inside a comment is removed with it either way.
    """
    text = _COMMENT.sub(" ", _MOVE_NUMBER.sub("", movetext))
    return _NAG.sub(" ", text).split()


def format_elements(elements: Sequence[str]) -> str:
    """Join elements with ',' after the even-indexed (White's) and ';' after the odd-indexed (Black's)."""
    return "".join(e + ("," if i % 2 == 0 else ";") for i, e in enumerate(elements))


def final_fen(elements: Sequence[str]) -> str:
    """Full FEN after replaying the SAN moves of `elements` from the start position (result token skipped)."""
    import chess

    board = chess.Board()
    for ply, element in enumerate(elements):
        if element in RESULTS:
            continue
        try:
            board.push_san(_GLYPHS.sub("", element))
        except ValueError as err:
            raise ValueError(f"illegal or unparsable move {element!r} at ply {ply + 1}: {err}") from None
    return board.fen()


def _elo(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "?"
    return str(int(value))


def game_text(movetext: str, white_elo=None, black_elo=None, elo_suffix: bool = False) -> str:
    """The character string of one game (without BOS/EOS)."""
    elements = movetext_elements(movetext)
    text = format_elements(elements)
    if elo_suffix:
        text += f"|{_elo(white_elo)}|{_elo(black_elo)}|{final_fen(elements)}"
    return text


def encode(text: str, bos: bool = True, eos: bool = True) -> np.ndarray:
    """Token ids (uint16) of `text`, framed by BOS/EOS. Raises naming any character outside VOCAB."""
    try:
        raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError as err:
        raise ValueError(f"character {text[err.start]!r} at position {err.start} is not in the chess "
                         f"vocabulary (expected one of {CHARACTERS!r})") from None
    ids = _LUT[raw]
    if (ids < 0).any():
        pos = int(np.argmax(ids < 0))
        raise ValueError(f"character {text[pos]!r} at position {pos} is not in the chess vocabulary "
                         f"(expected one of {CHARACTERS!r})")
    out = np.empty(len(ids) + bos + eos, dtype=np.uint16)
    out[bos:bos + len(ids)] = ids
    if bos:
        out[0] = BOS_ID
    if eos:
        out[-1] = EOS_ID
    return out


def decode(ids: Iterable[int]) -> str:
    """Inverse of `encode`: BOS and EOS are written as '<BOS>' and '<EOS>'."""
    ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= len(VOCAB)):
        bad = ids[(ids < 0) | (ids >= len(VOCAB))][0]
        raise ValueError(f"token id {bad} is outside the chess vocabulary (0..{len(VOCAB) - 1})")
    return "".join(VOCAB[i] for i in ids)


def encode_game(movetext: str, white_elo=None, black_elo=None, elo_suffix: bool = False) -> np.ndarray:
    return encode(game_text(movetext, white_elo, black_elo, elo_suffix))


def encode_games(movetexts: Sequence[str], white_elos: Sequence | None = None,
                 black_elos: Sequence | None = None, elo_suffix: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The concatenated BOS..EOS streams of many games, and each game's length in tokens."""
    n = len(movetexts)
    white_elos = white_elos if white_elos is not None else [None] * n
    black_elos = black_elos if black_elos is not None else [None] * n
    parts = []
    for i, (mt, we, be) in enumerate(zip(movetexts, white_elos, black_elos, strict=True)):
        try:
            parts.append(encode_game(mt, we, be, elo_suffix))
        except ValueError as err:
            raise ValueError(f"game {i}: {err}") from None
    lengths = np.array([len(p) for p in parts], dtype=np.int64)
    return (np.concatenate(parts) if parts else np.empty(0, np.uint16)), lengths
