"""Resumable, verified HTTP downloads (standard library only).

`fetch(url, dest)` downloads into `dest.part`, checks the size against Content-Length and, when given, the
expected size and sha256, runs an optional content check (`validate(path)`), then renames the file into
place and writes `dest.manifest.json` beside it: URL, final URL (after redirects), size, sha256, ETag,
time. A file that is already present and matches its manifest (or the expected checksum) is never
downloaded again. Every error names the URL and the file; a checksum or content failure removes the partial
file, so nothing that looks complete is left behind.

Resuming: the validator of the response that started `dest.part` (its strong ETag, else its Last-Modified)
is kept in `dest.part.json`. A partial file is resumed (also after a dropped connection, up to `retries`
times) only with `Range` + `If-Range: <validator>`, so the server sends the rest only if the file is still
the same; a full answer (200: the file changed, or the server ignores ranges) starts over from byte 0, and a
partial file without a recorded validator is downloaded again from the start, never joined to another
version.

Redirects: a redirect to another host, or from https to http, is refused (`redirect_refusal`) unless
`allow_redirect_hosts` names the host (`host`, or `*.domain` for its subdomains) or, for a downgrade,
`allow_insecure_redirects` is set; these are the config keys download.allow_redirect_hosts and
download.allow_insecure_redirects. Redirects within the same host, and http -> https, are followed.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from ..io import read_json, sha256_file, write_json

USER_AGENT = "supercollapse-download/0.1 (+python-urllib)"
BLOCK = 1 << 20
HOSTS_KEY = "download.allow_redirect_hosts"
INSECURE_KEY = "download.allow_insecure_redirects"


class DownloadError(RuntimeError):
    pass


def manifest_path(dest: str | os.PathLike) -> Path:
    dest = Path(dest)
    return dest.with_name(dest.name + ".manifest.json")


def part_paths(dest: str | os.PathLike) -> tuple[Path, Path]:
    """The partial file of `dest` and its sidecar (`<file>.part.json`: the URL and validator it started with)."""
    dest = Path(dest)
    return dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.json")


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


def _host_allowed(host: str, patterns: Iterable[str] | str) -> bool:
    for p in [patterns] if isinstance(patterns, str) else patterns:
        p = p.strip().lower().rstrip(".")
        if p.startswith("*."):
            if host.endswith(p[1:]) and len(host) > len(p) - 1:
                return True
        elif host == p:
            return True
    return False


def redirect_refusal(original: str, target: str, allow_hosts: Iterable[str] = (), allow_insecure: bool = False,
                     source: str | None = None) -> str | None:
    """Why a redirect to `target` in a download of `original` is refused, or None if it is allowed (absolute
    URLs; `source` is the URL that answered with the redirect, `original` unless it was redirected before).
    Allowed: http(s) targets on the host of `original` (any port) or on a host that `allow_hosts` names
    (`host`, or `*.domain` for any subdomain of domain), and not from https to http unless
    `allow_insecure`."""
    src, dst = urlsplit(source or original), urlsplit(target)
    if dst.scheme not in ("http", "https"):
        return f"the redirect target's scheme {dst.scheme or '(none)'!r} is not http or https"
    host = (dst.hostname or "").lower()
    home = (urlsplit(original).hostname or "").lower()
    if host != home and not _host_allowed(host, allow_hosts):
        return f"it leads to another host ({host}, not {home}); if it is trusted, add it (or *.domain) to {HOSTS_KEY}"
    if src.scheme == "https" and dst.scheme == "http" and not allow_insecure:
        return f"it downgrades https to http; to accept that, set {INSECURE_KEY}: true"
    return None


class _RedirectPolicy(urllib.request.HTTPRedirectHandler):
    def __init__(self, original: str, dest: Path, allow_hosts: Iterable[str], allow_insecure: bool):
        super().__init__()
        self.original, self.dest = original, dest
        self.allow_hosts = (allow_hosts,) if isinstance(allow_hosts, str) else tuple(allow_hosts)
        self.allow_insecure = allow_insecure

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        why = redirect_refusal(self.original, newurl, self.allow_hosts, self.allow_insecure, source=req.full_url)
        if why is not None:
            fp.close()
            via = "" if req.full_url == self.original else f" (via {req.full_url})"
            raise DownloadError(f"{self.original}: redirect{via} to {newurl} refused: {why} "
                                f"(downloading to {self.dest}; nothing was downloaded)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(url: str, dest: str | os.PathLike, *, sha256: str | None = None, size: int | None = None,
          validate: Callable[[Path], object] | None = None, timeout: float = 60.0, retries: int = 5,
          backoff_s: float = 2.0, allow_redirect_hosts: Iterable[str] = (), allow_insecure_redirects: bool = False,
          log: Callable[[str], None] = print) -> dict:
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
            return _write_manifest(dest, url, None, digest, actual, etag=None)
        raise DownloadError(f"{dest}: present but does not match the expected "
                            f"{'sha256 ' + sha256 if sha256 else 'size ' + str(size)} (has sha256 {digest}, "
                            f"{actual} bytes); delete it to download {url} again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part, state = part_paths(dest)
    opener = urllib.request.build_opener(_RedirectPolicy(url, dest, allow_redirect_hosts, allow_insecure_redirects))
    for attempt in range(retries + 1):
        try:
            total, etag, final_url = _download_to(url, part, state, opener, timeout, log)
            break
        except (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError,
                _Incomplete) as err:
            if isinstance(err, urllib.error.HTTPError) and err.code not in (408, 429, 500, 502, 503, 504):
                raise DownloadError(f"{url}: HTTP {err.code} {err.reason} (downloading to {dest})") from None
            if attempt == retries:
                raise DownloadError(f"{url}: download to {dest} failed after {retries + 1} attempts "
                                    f"({type(err).__name__}: {err}); {part} is kept and resumed next time if "
                                    "the server confirms the file is unchanged") from None
            log(f"{url}: {type(err).__name__}: {err}; retrying with {_size(part)} bytes in {part} "
                f"(attempt {attempt + 2})")
            time.sleep(backoff_s * 2**attempt)
    actual = part.stat().st_size
    expected = size if size is not None else total
    if expected is not None and actual != expected:
        _discard(part, state)
        raise DownloadError(f"{url}: got {actual} bytes for {dest}, expected {expected}; partial file removed")
    digest = sha256_file(part)
    if sha256 is not None and digest != sha256:
        _discard(part, state)
        raise DownloadError(f"{url}: sha256 mismatch for {dest}: expected {sha256}, got {digest}; "
                            "partial file removed")
    try:
        _check_content(validate, part, url, dest)
    except DownloadError:
        _discard(part, state)
        raise
    os.replace(part, dest)
    state.unlink(missing_ok=True)
    log(f"{url} -> {dest}: {actual} bytes, sha256 {digest}" + (f" (from {final_url})" if final_url != url else ""))
    return _write_manifest(dest, url, final_url, digest, actual, etag)


class _Incomplete(Exception):
    pass


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _discard(part: Path, state: Path) -> None:
    state.unlink(missing_ok=True)
    part.unlink(missing_ok=True)


def _validator(headers) -> str | None:
    """What `If-Range` may send back to ask for the same file: a strong ETag, else Last-Modified."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified")


def _recorded_validator(url: str, state: Path) -> str | None:
    try:
        s = read_json(state)
    except (FileNotFoundError, ValueError):
        return None
    return s.get("validator") if isinstance(s, dict) and s.get("url") == url else None


def _download_to(url: str, part: Path, state: Path, opener, timeout: float, log,
                 restarted: bool = False) -> tuple[int | None, str | None, str]:
    """Append the rest of `url` to `part` (or start it over, see the module docstring); returns (total size if
    the server said, ETag, final URL)."""
    have = _size(part)
    validator = _recorded_validator(url, state) if have else None
    if have and validator is None:
        log(f"{url}: {part} has {have} bytes but no ETag or Last-Modified of this URL was recorded for them "
            f"({state}), so they cannot be confirmed to be the same version of the file: downloading from byte 0")
        _discard(part, state)
        have = 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
        request.add_header("If-Range", validator)
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            now = _validator(err.headers)
            if now is not None and now != validator and not restarted:
                log(f"{url}: the server's validator is now {now}, not {validator}; removing {part} and "
                    "downloading from byte 0")
                err.close()
                _discard(part, state)
                return _download_to(url, part, state, opener, timeout, log, restarted=True)
            # Same file (If-Range held) and the partial file may already hold everything: the size check
            # after us decides.
            total = _content_range_total(err.headers.get("Content-Range"))
            return total, err.headers.get("ETag"), err.geturl() or url
        raise
    with response:
        status, final_url = response.status, response.geturl() or url
        if status == 206:
            crange = response.headers.get("Content-Range")
            start, now = _content_range_start(crange), _validator(response.headers)
            changed = validator is not None and now is not None and now != validator
            if start != have or changed:
                why = (f"server sent bytes from {start} (Content-Range {crange!r}) when asked from {have}"
                       if start != have else f"server's validator is now {now}, not {validator}")
                if restarted or not have:
                    raise DownloadError(f"{url}: unusable partial response: {why} (downloading to {part})")
                log(f"{url}: {why}; removing {part} and downloading from byte 0")
                response.close()
                _discard(part, state)
                return _download_to(url, part, state, opener, timeout, log, restarted=True)
            total = _content_range_total(crange)
            mode = "ab"
        elif status == 200:
            if have:
                log(f"{url}: the server sent the whole file instead of bytes from {have} (it changed since "
                    f"{part} was started, or the server does not resume): downloading from byte 0")
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
            # Forget the old validator before the old bytes, and record the new one only after they are gone:
            # a crash in between leaves a partial file that is never resumed with the wrong validator.
            state.unlink(missing_ok=True)
            part.write_bytes(b"")
            validator = _validator(response.headers)
            if validator is not None:
                write_json(state, {"url": url, "final_url": final_url, "validator": validator})
            mode = "ab"
        else:
            raise DownloadError(f"{url}: unexpected HTTP status {status}")
        with open(part, mode) as f:
            while block := response.read(BLOCK):
                f.write(block)
        got = _size(part)
        if total is not None and got < total:
            raise _Incomplete(f"connection closed at byte {got} of {total}")
        return total, response.headers.get("ETag"), final_url


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


def _write_manifest(dest: Path, url: str, final_url: str | None, digest: str, size: int,
                    etag: str | None) -> dict:
    m = {"url": url, "final_url": final_url, "file": dest.name, "size": size, "sha256": digest, "etag": etag,
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
