import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from http_fixture import FileServer

from supercollapse.data.cifar5m import open_images
from supercollapse.data.download import DownloadError, fetch, manifest_path
from supercollapse.data.lichess import check_shard, shard_relpath

MOVETEXT = "1. e4 { [%clk 0:03:00] } 1... e5 2. Qh5 Nc6 3. Bc4 Nf6 4. Qxf7# 1-0"


def quiet(_):
    pass


def lichess_shard(path, columns=("movetext", "WhiteElo", "BlackElo"), n=3000):
    cols = {"movetext": [MOVETEXT] * n, "WhiteElo": list(range(n)), "BlackElo": list(range(n)), "Event": ["x"] * n}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({k: v for k, v in cols.items() if k in columns or k == "Event"}), path)
    return path


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "server"
    rel = "data/" + shard_relpath("2025-01", 3, 72)
    lichess_shard(root / rel)
    with FileServer(root) as server:
        yield server, rel, (root / rel).read_bytes()


def test_full_download_then_never_again(served, tmp_path):
    server, rel, data = served
    dest = tmp_path / "dl" / "train-00003-of-00072.parquet"
    check = lambda p: check_shard(p, elo_suffix=True)  # noqa: E731
    m = fetch(f"{server.url}/{rel}", dest, validate=check, log=quiet)
    assert dest.read_bytes() == data and m["sha256"] == hashlib.sha256(data).hexdigest() and m["size"] == len(data)
    assert manifest_path(dest).exists() and not dest.with_name(dest.name + ".part").exists()
    assert server.requests == [(f"/{rel}", None)]
    fetch(f"{server.url}/{rel}", dest, sha256=m["sha256"], validate=check, log=quiet)
    assert len(server.requests) == 1  # present and verified: no request at all


def test_resume_from_partial_file(served, tmp_path):
    server, rel, data = served
    dest = tmp_path / "shard.parquet"
    dest.with_name("shard.parquet.part").write_bytes(data[:1000])
    fetch(f"{server.url}/{rel}", dest, sha256=hashlib.sha256(data).hexdigest(), log=quiet)
    assert dest.read_bytes() == data
    assert server.requests == [(f"/{rel}", "bytes=1000-")]


def test_resume_after_dropped_connection(served, tmp_path):
    server, rel, data = served
    server.drop_after[f"/{rel}"] = 777
    dest = tmp_path / "shard.parquet"
    fetch(f"{server.url}/{rel}", dest, backoff_s=0, log=quiet)
    assert dest.read_bytes() == data
    assert server.requests == [(f"/{rel}", None), (f"/{rel}", "bytes=777-")]


def test_server_ignoring_range_restarts_cleanly(served, tmp_path):
    server, rel, data = served
    server.ignore_range = True
    dest = tmp_path / "shard.parquet"
    dest.with_name("shard.parquet.part").write_bytes(b"garbage that must not stay in front")
    fetch(f"{server.url}/{rel}", dest, log=quiet)
    assert dest.read_bytes() == data and server.requests[0][1] is not None


def test_complete_part_file_is_finished_without_a_body(served, tmp_path):
    server, rel, data = served
    dest = tmp_path / "shard.parquet"
    dest.with_name("shard.parquet.part").write_bytes(data)  # killed after the last byte, before the rename
    m = fetch(f"{server.url}/{rel}", dest, log=quiet)
    assert dest.read_bytes() == data and m["size"] == len(data)
    assert server.requests == [(f"/{rel}", f"bytes={len(data)}-")]  # answered 416: nothing left to send


def test_checksum_mismatch_leaves_nothing(served, tmp_path):
    server, rel, _ = served
    dest = tmp_path / "shard.parquet"
    with pytest.raises(DownloadError, match=rf"{rel}.*sha256 mismatch.*shard.parquet"):
        fetch(f"{server.url}/{rel}", dest, sha256="0" * 64, log=quiet)
    assert list(tmp_path.glob("shard.parquet*")) == []


def test_missing_column_is_named(tmp_path):
    root = tmp_path / "server"
    lichess_shard(root / "bad.parquet", columns=("WhiteElo", "BlackElo"))
    with FileServer(root) as server, pytest.raises(DownloadError, match=r"bad\.parquet.*lacks column.*movetext"):
        fetch(f"{server.url}/bad.parquet", tmp_path / "bad.parquet", validate=lambda p: check_shard(p, True), log=quiet)
    assert list(tmp_path.glob("bad.parquet*")) == []


def test_truncated_npz_is_named(tmp_path):
    root = tmp_path / "server"
    root.mkdir()
    full = root / "full.npz"
    np.savez(full, X=np.zeros((64, 32, 32, 3), np.uint8), Y=np.zeros(64, np.uint8))
    (root / "cifar5m_part0.npz").write_bytes(full.read_bytes()[:50_000])
    with FileServer(root) as server:
        m = fetch(f"{server.url}/full.npz", tmp_path / "ok.npz", validate=open_images, log=quiet)
        assert m["size"] == full.stat().st_size and open_images(tmp_path / "ok.npz").shape == (64, 32, 32, 3)
        with pytest.raises(DownloadError, match=r"cifar5m_part0\.npz.*(truncated|not a complete)"):
            fetch(f"{server.url}/cifar5m_part0.npz", tmp_path / "cifar5m_part0.npz", validate=open_images, log=quiet)
        with pytest.raises(DownloadError, match=r"HTTP 404.*missing\.npz"):
            fetch(f"{server.url}/missing.npz", tmp_path / "missing.npz", log=quiet)
    assert not (tmp_path / "cifar5m_part0.npz").exists()


def test_present_file_with_wrong_checksum_is_refused(tmp_path):
    dest = tmp_path / "x.bin"
    dest.write_bytes(b"abc")
    with pytest.raises(DownloadError, match=r"x\.bin: present but does not match"):
        fetch("http://127.0.0.1:9/x.bin", dest, sha256="1" * 64, log=quiet)
