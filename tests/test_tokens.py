import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from supercollapse.data.tokens import read_tokens, tokens_table, write_tokens
from supercollapse.schemas import TOKENS, check_table


def test_round_trip_and_schema(tmp_path):
    rng = np.random.default_rng(0)
    array = rng.integers(0, 65536, size=(37, 9)).astype(np.uint16)
    path = tmp_path / "train.parquet"
    write_tokens(path, array)
    assert [p.name for p in tmp_path.iterdir()] == ["train.parquet"]  # no temporary left behind
    check_table(pq.read_table(path), TOKENS(9), where=str(path))
    out = read_tokens(path)
    assert out.dtype == np.uint16 and out.shape == (37, 9)
    np.testing.assert_array_equal(out, array)


def test_many_row_groups_read_in_order(tmp_path):
    array = np.arange(50 * 4, dtype=np.uint16).reshape(50, 4)
    path = tmp_path / "t.parquet"
    pq.write_table(tokens_table(array), path, row_group_size=7)
    assert pq.ParquetFile(path).num_row_groups == 8
    np.testing.assert_array_equal(read_tokens(path), array)


def test_empty_and_wider_int_arrays(tmp_path):
    write_tokens(tmp_path / "e.parquet", np.zeros((0, 5), np.uint16))
    assert read_tokens(tmp_path / "e.parquet").shape == (0, 5)
    write_tokens(tmp_path / "i.parquet", np.array([[1, 2], [3, 65535]], np.int64))
    np.testing.assert_array_equal(read_tokens(tmp_path / "i.parquet"), [[1, 2], [3, 65535]])


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(ValueError, match="uint16"):
        write_tokens(tmp_path / "x.parquet", np.array([[0, 70000]]))
    with pytest.raises(ValueError, match="2-D"):
        write_tokens(tmp_path / "x.parquet", np.zeros(4, np.uint16))
    with pytest.raises(FileNotFoundError, match="missing.parquet"):
        read_tokens(tmp_path / "missing.parquet")
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"tokens": pa.array([[1, 2]], pa.list_(pa.int32(), 2))}), wrong)
    with pytest.raises(ValueError, match=r"wrong.parquet.*fixed_size_list<uint16>"):
        read_tokens(wrong)
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet at all")
    with pytest.raises(ValueError, match="junk.parquet"):
        read_tokens(junk)
