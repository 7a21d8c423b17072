"""A local HTTP file server for the download tests: serves a folder on 127.0.0.1 with Range and If-Range
support (ETag: a hash of the content; Last-Modified: the file's mtime), records every request (path and Range
header in `requests`, the headers that matter in `seen`), can drop the connection part-way through a
response, answer redirects, and misbehave in the ways real servers do (ignore Range, ignore If-Range, send
a range from the wrong offset)."""

from __future__ import annotations

import hashlib
import re
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class FileServer:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.requests: list[tuple[str, str | None]] = []
        self.seen: list[dict] = []  # per request: path, host, range, if_range, status
        self.drop_after: dict[str, int] = {}  # path -> bytes to send before closing, applied once
        self.redirects: dict[str, str] = {}  # path -> Location (absolute or relative) of a 302
        self.ignore_range = False  # answer Range requests with the whole file (200), as some servers do
        self.ignore_if_range = False  # serve the range even when If-Range does not match (a broken server)
        self.range_shift = 0  # serve a range from this many bytes after the asked start (a broken server)
        self.send_etag = True
        self.send_last_modified = True
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def send_response(self, code, message=None):
                self.entry["status"] = code
                super().send_response(code, message)

            def do_GET(self):
                rng, if_range = self.headers.get("Range"), self.headers.get("If-Range")
                server.requests.append((self.path, rng))
                self.entry = {"path": self.path, "host": self.headers.get("Host"), "range": rng, "if_range": if_range}
                server.seen.append(self.entry)
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path = server.root / self.path.lstrip("/")
                if not path.is_file():
                    self.send_error(404, "not found")
                    return
                data = path.read_bytes()
                etag = f'"{hashlib.sha256(data).hexdigest()[:16]}"'
                modified = formatdate(path.stat().st_mtime, usegmt=True)
                if rng and if_range and not server.ignore_if_range:
                    same = (if_range == etag and server.send_etag if if_range.startswith('"') else
                            False if if_range.startswith("W/") else
                            if_range == modified and server.send_last_modified)
                    rng = rng if same else None  # RFC 9110: a failed If-Range means the whole file
                start = 0
                if rng and not server.ignore_range:
                    m = re.fullmatch(r"bytes=(\d+)-", rng)
                    start = int(m.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    start = min(max(start + server.range_shift, 0), len(data) - 1)
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                if server.send_etag:
                    self.send_header("ETag", etag)
                if server.send_last_modified:
                    self.send_header("Last-Modified", modified)
                self.end_headers()
                cut = server.drop_after.pop(self.path, None)
                self.wfile.write(body if cut is None else body[:cut])
                if cut is not None:
                    self.wfile.flush()
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url_as(self, host: str) -> str:
        """This server's base URL under another host name (e.g. localhost): another host to a client."""
        return f"http://{host}:{self.port}"

    def __enter__(self) -> "FileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
