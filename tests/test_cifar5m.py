import numpy as np
import pytest

from supercollapse.data.cifar5m import grayscale_tokens, open_images
from supercollapse.stages.tokens import tokenize_task
from supercollapse.data.tokens import read_tokens
from supercollapse.io import read_json


def test_grayscale_is_floor_of_rgb_mean_in_raster_order():
    rgb = np.zeros((2, 32, 32, 3), np.uint8)
    rgb[0, 0, 1] = (255, 255, 254)  # row 0, column 1: mean 254.67 -> 254
    rgb[0, 1, 0] = (1, 1, 0)  # row 1, column 0 (token 32): mean 0.67 -> 0
    rgb[1, 31, 31] = (10, 20, 31)  # last pixel: mean 20.33 -> 20
    rgb[1, 2, 3] = (255, 255, 255)
    tokens = grayscale_tokens(rgb)
    assert tokens.shape == (2, 1024) and tokens.dtype == np.uint16
    assert tokens[0, 1] == 254 and tokens[0, 32] == 0 and tokens[1, 1023] == 20 and tokens[1, 2 * 32 + 3] == 255
    assert tokens.sum() == 254 + 20 + 255
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8)
    # The paper's numpy expression, mean then cast, agrees exactly with the integer floor.
    np.testing.assert_array_equal(grayscale_tokens(x), x.mean(axis=-1).astype(np.uint8).reshape(50, 1024))
    with pytest.raises(ValueError, match=r"\(B, 32, 32, 3\)"):
        grayscale_tokens(np.zeros((2, 32, 32), np.uint8))


@pytest.mark.parametrize("compressed", [False, True])
def test_stage_split_and_meta(tmp_path, compressed):
    rng = np.random.default_rng(1)
    parts = [rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8) for n in (120, 80)]
    paths = []
    for i, x in enumerate(parts):
        paths.append(tmp_path / f"cifar5m_part{i}.npz")
        (np.savez_compressed if compressed else np.savez)(paths[-1], X=x, Y=np.zeros(len(x), np.uint8))
    assert isinstance(open_images(paths[0]), np.memmap) != compressed
    cfg = {"source": "cifar5m", "seq_len": 1024, "test_fraction": 0.1, "seed": 3, "eval_sequences": 4,
           "parts": [0, 1], "mask_zero_targets": False}
    out = [tmp_path / "train.parquet", tmp_path / "test.parquet", tmp_path / "meta.json"]
    tokenize_task(cfg, paths, *out, workers=2)
    train, test, meta = read_tokens(out[0]), read_tokens(out[1]), read_json(out[2])
    assert (len(train), len(test)) == (180, 20) == (meta["n_train"], meta["n_test"])
    assert meta["vocab_size"] == 256 and meta["bos_id"] is None and meta["vocab"] is None
    assert meta["mask_zero_targets"] is False and set(meta["sha256"]) >= {"cifar5m_part0.npz", "train.parquet"}
    every = grayscale_tokens(np.concatenate(parts))
    is_test = np.zeros(200, bool)
    is_test[np.random.default_rng(3).choice(200, 20, replace=False)] = True
    np.testing.assert_array_equal(test, every[is_test])  # file order within each split
    np.testing.assert_array_equal(train, every[~is_test])


def test_bad_seq_len_is_named(tmp_path):
    np.savez(tmp_path / "p.npz", X=np.zeros((10, 32, 32, 3), np.uint8))
    cfg = {"source": "cifar5m", "seq_len": 128, "test_fraction": 0.1, "seed": 0, "eval_sequences": 1}
    with pytest.raises(ValueError, match="seq_len must be 1024"):
        tokenize_task(cfg, [tmp_path / "p.npz"], tmp_path / "a", tmp_path / "b", tmp_path / "c")
