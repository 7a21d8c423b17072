import hashlib
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from http_fixture import FileServer

from supercollapse.data.cifar5m import open_images
from supercollapse.data.download import DownloadError, fetch, manifest_path, redirect_refusal
from supercollapse.data.lichess import check_shard, shard_relpath

MOVETEXT = "1. e4 { [%clk 0:03:00] } 1... e5 2. Qh5 Nc6 3. Bc4 Nf6 4. Qxf7# 1-0"


def quiet(_):
    pass


def lichess_shard(path, columns=("movetext", "WhiteElo", "BlackElo"), n=3000):
    cols = {"movetext": [MOVETEXT] * n, "WhiteElo": list(range(n)), "BlackElo": list(range(n)), "Event": ["x"] * n}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({k: v for k, v in cols.items() if k in columns or k == "Event"}), path)
    return path


def interrupted(server, url_path, dest, n):
    """Start a download of `url_path` to `dest` and lose the connection after `n` bytes (no retry): leaves
    dest.part (n bytes) and dest.part.json (the validator it started with), as a killed job does."""
    server.drop_after[url_path] = n
    with pytest.raises(DownloadError, match="failed after 1 attempts"):
        fetch(server.url + url_path, dest, retries=0, log=quiet)
    part = dest.with_name(dest.name + ".part")
    assert part.stat().st_size == n
    return part


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
    interrupted(server, f"/{rel}", dest, 1000)
    fetch(f"{server.url}/{rel}", dest, sha256=hashlib.sha256(data).hexdigest(), log=quiet)
    assert dest.read_bytes() == data
    assert server.requests == [(f"/{rel}", None), (f"/{rel}", "bytes=1000-")]
    assert not dest.with_name("shard.parquet.part.json").exists()


def test_resume_after_dropped_connection(served, tmp_path):
    server, rel, data = served
    server.drop_after[f"/{rel}"] = 777
    dest = tmp_path / "shard.parquet"
    fetch(f"{server.url}/{rel}", dest, backoff_s=0, log=quiet)
    assert dest.read_bytes() == data
    assert server.requests == [(f"/{rel}", None), (f"/{rel}", "bytes=777-")]


def test_server_ignoring_range_restarts_cleanly(served, tmp_path):
    server, rel, data = served
    dest = tmp_path / "shard.parquet"
    interrupted(server, f"/{rel}", dest, 1000)
    server.ignore_range = True
    fetch(f"{server.url}/{rel}", dest, log=quiet)
    assert dest.read_bytes() == data and server.requests[1] == (f"/{rel}", "bytes=1000-")
    assert server.seen[1]["status"] == 200


def test_complete_part_file_is_finished_without_a_body(served, tmp_path):
    server, rel, data = served
    dest = tmp_path / "shard.parquet"
    interrupted(server, f"/{rel}", dest, 1000).write_bytes(data)  # killed after the last byte, before the rename
    m = fetch(f"{server.url}/{rel}", dest, log=quiet)
    assert dest.read_bytes() == data and m["size"] == len(data)
    assert server.requests[1:] == [(f"/{rel}", f"bytes={len(data)}-")]  # answered 416: nothing left to send


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


# Redirects (issue 17, case 19): another host, or https -> http, only when the config says so.


def test_cross_host_redirect_is_refused(served, tmp_path):
    server, rel, _ = served
    server.redirects["/moved.parquet"] = target = f"{server.url_as('localhost')}/{rel}"
    dest = tmp_path / "shard.parquet"
    original = f"{server.url}/moved.parquet"
    with pytest.raises(DownloadError) as err:
        fetch(original, dest, log=quiet)
    msg = str(err.value)
    assert original in msg and target in msg and "download.allow_redirect_hosts" in msg and "localhost" in msg
    assert list(tmp_path.glob("shard.parquet*")) == []
    assert [r["host"] for r in server.seen] == [f"127.0.0.1:{server.port}"]  # localhost was never asked


def test_allowed_cross_host_redirect_records_the_final_url(served, tmp_path):
    server, rel, data = served
    server.redirects["/moved.parquet"] = target = f"{server.url_as('localhost')}/{rel}"
    dest = tmp_path / "shard.parquet"
    original = f"{server.url}/moved.parquet"
    m = fetch(original, dest, allow_redirect_hosts=["localhost"], log=quiet)
    assert dest.read_bytes() == data
    assert m["url"] == original and m["final_url"] == target
    assert json.loads(manifest_path(dest).read_text())["final_url"] == target
    assert server.seen[-1]["host"] == f"localhost:{server.port}"


def test_same_host_redirect_is_followed_and_recorded(served, tmp_path):
    server, rel, data = served
    server.redirects["/moved.parquet"] = f"/{rel}"  # relative: the same host
    m = fetch(f"{server.url}/moved.parquet", tmp_path / "shard.parquet", log=quiet)
    assert (tmp_path / "shard.parquet").read_bytes() == data and m["final_url"] == f"{server.url}/{rel}"


def test_redirect_policy():
    hf = "https://huggingface.co/datasets/x/resolve/main/a.parquet"
    assert redirect_refusal(hf, "https://huggingface.co/api/a.parquet") is None  # same host
    assert redirect_refusal(hf, "https://HuggingFace.co:8443/a.parquet") is None  # same host, any port
    assert redirect_refusal("http://example.org/a", "https://example.org/a") is None  # upgrade
    why = redirect_refusal(hf, "https://cdn-lfs.hf.co/a.parquet")
    assert "cdn-lfs.hf.co" in why and "download.allow_redirect_hosts" in why
    assert redirect_refusal(hf, "https://cdn-lfs.hf.co/a", allow_hosts=["cdn-lfs.hf.co"]) is None
    assert redirect_refusal(hf, "https://cdn-lfs-us-1.hf.co/a", allow_hosts=["*.hf.co"]) is None
    assert redirect_refusal(hf, "https://hf.co.evil.com/a", allow_hosts=["*.hf.co"]) is not None
    assert redirect_refusal(hf, "https://evilhf.co/a", allow_hosts=["*.hf.co"]) is not None
    why = redirect_refusal(hf, "http://huggingface.co/a.parquet")  # downgrade on the same host
    assert "https to http" in why and "download.allow_insecure_redirects" in why
    assert redirect_refusal(hf, "http://huggingface.co/a.parquet", allow_insecure=True) is None
    assert redirect_refusal(hf, "http://cdn.hf.co/a", allow_hosts=["*.hf.co"]) is not None  # host ok, downgrade not
    assert redirect_refusal(hf, "http://cdn.hf.co/a", allow_hosts=["*.hf.co"], allow_insecure=True) is None
    # a later hop: https -> http is judged against the URL that redirected
    assert redirect_refusal("http://h.org/a", "http://h.org/c", source="https://h.org/b") is not None
    assert redirect_refusal(hf, "ftp://huggingface.co/a") is not None


# Resuming (issue 17, case 20): only when the server confirms the partial file is of the same version.


@pytest.fixture
def versions(tmp_path):
    """A server whose file `blob.bin` can be replaced by another version of the same size."""
    root = tmp_path / "server"
    root.mkdir()
    a, b = os.urandom(50_000), os.urandom(50_000)
    (root / "blob.bin").write_bytes(a)
    os.utime(root / "blob.bin", (1_700_000_000, 1_700_000_000))
    with FileServer(root) as server:
        yield server, root / "blob.bin", a, b


def new_version(path, b):
    path.write_bytes(b)
    os.utime(path, (1_700_000_100, 1_700_000_100))


def test_part_of_an_older_version_is_not_joined_to_the_new_one(versions, tmp_path):
    server, served_file, a, b = versions
    dest = tmp_path / "blob.bin"
    interrupted(server, "/blob.bin", dest, 20_000)
    new_version(served_file, b)
    m = fetch(f"{server.url}/blob.bin", dest, log=quiet)
    assert dest.read_bytes() == b and m["sha256"] == hashlib.sha256(b).hexdigest()
    first_etag = f'"{hashlib.sha256(a).hexdigest()[:16]}"'
    assert server.seen[1]["range"] == "bytes=20000-" and server.seen[1]["if_range"] == first_etag
    assert server.seen[1]["status"] == 200 and len(server.seen) == 2


def test_part_of_an_older_version_with_last_modified_only(versions, tmp_path):
    server, served_file, _, b = versions
    server.send_etag = False
    dest = tmp_path / "blob.bin"
    interrupted(server, "/blob.bin", dest, 20_000)
    new_version(served_file, b)
    fetch(f"{server.url}/blob.bin", dest, log=quiet)
    assert dest.read_bytes() == b
    assert server.seen[1]["if_range"] == "Tue, 14 Nov 2023 22:13:20 GMT" and server.seen[1]["status"] == 200


def test_server_ignoring_if_range_is_caught_by_the_etag(versions, tmp_path):
    server, served_file, _, b = versions
    dest = tmp_path / "blob.bin"
    interrupted(server, "/blob.bin", dest, 20_000)
    new_version(served_file, b)
    server.ignore_if_range = True  # sends 206 with the new version's bytes (and its new ETag)
    logs = []
    fetch(f"{server.url}/blob.bin", dest, log=logs.append)
    assert dest.read_bytes() == b
    assert [r["status"] for r in server.seen] == [200, 206, 200] and server.seen[2]["range"] is None
    assert any("validator is now" in line for line in logs)


def test_part_with_matching_etag_resumes(versions, tmp_path):
    server, _, a, _ = versions
    dest = tmp_path / "blob.bin"
    interrupted(server, "/blob.bin", dest, 20_000)
    fetch(f"{server.url}/blob.bin", dest, log=quiet)
    assert dest.read_bytes() == a
    etag = f'"{hashlib.sha256(a).hexdigest()[:16]}"'
    assert server.seen[1] | {"host": None} == {"path": "/blob.bin", "host": None, "range": "bytes=20000-",
                                              "if_range": etag, "status": 206}
    assert len(server.seen) == 2 and not dest.with_name("blob.bin.part.json").exists()


def test_part_without_a_validator_is_downloaded_again(versions, tmp_path):
    server, _, a, _ = versions
    server.send_etag = server.send_last_modified = False
    server.drop_after["/blob.bin"] = 20_000
    logs = []
    fetch(f"{server.url}/blob.bin", tmp_path / "blob.bin", retries=1, backoff_s=0, log=logs.append)
    assert (tmp_path / "blob.bin").read_bytes() == a
    assert [(r["range"], r["status"]) for r in server.seen] == [(None, 200), (None, 200)]
    assert any("no ETag or Last-Modified" in line and "from byte 0" in line for line in logs)


def test_partial_response_from_the_wrong_offset_restarts(versions, tmp_path):
    server, _, a, _ = versions
    dest = tmp_path / "blob.bin"
    interrupted(server, "/blob.bin", dest, 20_000)
    server.range_shift = -100  # 206 with Content-Range from byte 19900
    logs = []
    fetch(f"{server.url}/blob.bin", dest, log=logs.append)
    assert dest.read_bytes() == a
    assert [(r["range"], r["status"]) for r in server.seen] == [(None, 200), ("bytes=20000-", 206), (None, 200)]
    assert any("server sent bytes from 19900" in line for line in logs)
