"""Resumable, verified HTTP downloads (standard library only).

`fetch(url, dest)` downloads into `dest.part`, resuming a partial file with an HTTP Range request (also
after a dropped connection, up to `retries` times), checks the size against Content-Length and, when
given, the expected size and sha256, runs an optional content check (`validate(path)`), then renames the
file into place and writes `dest.manifest.json` beside it: URL, size, sha256, ETag, time. A file that is
already present and matches its manifest (or the expected checksum) is never downloaded again. Every error
names the URL and the file; a checksum or content failure removes the partial file, so nothing that looks
complete is left behind.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from ..io import read_json, sha256_file, write_json

USER_AGENT = "supercollapse-download/0.1 (+python-urllib)"
BLOCK = 1 << 20


class DownloadError(RuntimeError):
    pass


def manifest_path(dest: str | os.PathLike) -> Path:
    dest = Path(dest)
    return dest.with_name(dest.name + ".manifest.json")


def verified_manifest(dest: str | os.PathLike, sha256: str | None = None, size: int | None = None) -> dict | None:
    """The manifest of `dest` if the file is present and matches it (and the expected sha256/size), else None."""
    dest, mpath = Path(dest), manifest_path(dest)
    if not dest.exists() or not mpath.exists():
        return None
    try:
        m = read_json(mpath)
    except ValueError:
        return None
    actual = dest.stat().st_size
    if m.get("size") != actual or (size is not None and actual != size):
        return None
    if sha256 is not None and m.get("sha256") != sha256.lower():
        return None
    return m


def fetch(url: str, dest: str | os.PathLike, *, sha256: str | None = None, size: int | None = None,
          validate: Callable[[Path], object] | None = None, timeout: float = 60.0, retries: int = 5,
          backoff_s: float = 2.0, log: Callable[[str], None] = print) -> dict:
    """Download `url` to `dest` (see the module docstring). Returns the manifest dict."""
    dest = Path(dest)
    sha256 = sha256.lower() if sha256 else None
    if (m := verified_manifest(dest, sha256, size)) is not None:
        log(f"{dest}: present and verified (sha256 {m['sha256'][:12]}...), not downloaded again")
        return m
    if dest.exists():
        digest, actual = sha256_file(dest), dest.stat().st_size
        if (sha256 is None or digest == sha256) and (size is None or actual == size):
            _check_content(validate, dest, url, dest)
            return _write_manifest(dest, url, digest, actual, etag=None)
        raise DownloadError(f"{dest}: present but does not match the expected "
                            f"{'sha256 ' + sha256 if sha256 else 'size ' + str(size)} (has sha256 {digest}, "
                            f"{actual} bytes); delete it to download {url} again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    etag = None
    for attempt in range(retries + 1):
        try:
            total, etag = _download_to(url, part, timeout)
            break
        except (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError,
                _Incomplete) as err:
            if isinstance(err, urllib.error.HTTPError) and err.code not in (408, 429, 500, 502, 503, 504):
                raise DownloadError(f"{url}: HTTP {err.code} {err.reason} (downloading to {dest})") from None
            if attempt == retries:
                raise DownloadError(f"{url}: download to {dest} failed after {retries + 1} attempts "
                                    f"({type(err).__name__}: {err}); {part} is kept and resumed next time") from None
            log(f"{url}: {type(err).__name__}: {err}; resuming from byte {_size(part)} (attempt {attempt + 2})")
            time.sleep(backoff_s * 2**attempt)
    actual = part.stat().st_size
    expected = size if size is not None else total
    if expected is not None and actual != expected:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url}: got {actual} bytes for {dest}, expected {expected}; partial file removed")
    digest = sha256_file(part)
    if sha256 is not None and digest != sha256:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url}: sha256 mismatch for {dest}: expected {sha256}, got {digest}; "
                            "partial file removed")
    try:
        _check_content(validate, part, url, dest)
    except DownloadError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    log(f"{url} -> {dest}: {actual} bytes, sha256 {digest}")
    return _write_manifest(dest, url, digest, actual, etag)


class _Incomplete(Exception):
    pass


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _download_to(url: str, part: Path, timeout: float) -> tuple[int | None, str | None]:
    """Append the rest of `url` to `part`; returns (total size if the server said, ETag)."""
    have = _size(part)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            # The partial file may already hold everything: the size check after us decides.
            total = _content_range_total(err.headers.get("Content-Range"))
            return total, err.headers.get("ETag")
        raise
    with response:
        status = response.status
        if status == 206:
            start = _content_range_start(response.headers.get("Content-Range"))
            if start != have:
                raise DownloadError(f"{url}: asked for bytes from {have}, server sent from {start}")
            total = _content_range_total(response.headers.get("Content-Range"))
            mode = "ab"
        elif status == 200:
            have, mode = 0, "wb"  # the server ignored the range (or there was none): start over
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
        else:
            raise DownloadError(f"{url}: unexpected HTTP status {status}")
        with open(part, mode) as f:
            while block := response.read(BLOCK):
                f.write(block)
        got = _size(part)
        if total is not None and got < total:
            raise _Incomplete(f"connection closed at byte {got} of {total}")
        return total, response.headers.get("ETag")


_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def _content_range_start(value: str | None) -> int | None:
    m = _RANGE.match(value or "")
    return int(m.group(1)) if m else None


def _content_range_total(value: str | None) -> int | None:
    m = re.search(r"/(\d+)$", value or "")
    return int(m.group(1)) if m else None


def _check_content(validate, path: Path, url: str, dest: Path) -> None:
    if validate is None:
        return
    try:
        validate(path)
    except (ValueError, OSError) as err:
        raise DownloadError(f"{dest} (from {url}): content is not valid: {err}") from None


def _write_manifest(dest: Path, url: str, digest: str, size: int, etag: str | None) -> dict:
    m = {"url": url, "file": dest.name, "size": size, "sha256": digest, "etag": etag,
         "downloaded_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_json(manifest_path(dest), m)
    return m


def raw_files(data_cfg: dict, downloads: str) -> list[str]:
    """The downloaded files a transformer task's data config tokenizes, as paths under `downloads` (none for
    offline_chess). Their download rules' outputs are the manifests beside them (`<file>.manifest.json`)."""
    from .lichess import shard_relpath

    if data_cfg["source"] == "lichess":
        return [f"{downloads}/lichess/{shard_relpath(data_cfg['month'], s, data_cfg['n_shards'])}"
                for s in data_cfg["shards"]]
    if data_cfg["source"] == "cifar5m":
        return [f"{downloads}/cifar5m/cifar5m_part{p}.npz" for p in data_cfg["parts"]]
    return []
