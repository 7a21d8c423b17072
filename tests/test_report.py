"""`snakemake --report` on the tiny run, opened in headless Debian chromium: every figure renders, with its numbers.

Chromium is driven over the Chrome DevTools protocol on a pipe (--remote-debugging-pipe), so the test waits
for the page's own promise instead of guessing a time budget. Skipped without chromium, except in CI
(CI=true), where .ci/run installs it and a missing browser fails the test.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from helpers import ROOT, snakemake
from supercollapse import summary as sm

PROBE = (ROOT / "tests" / "data" / "report_probe.js").read_text()


@pytest.fixture(scope="session")
def chromium() -> str:
    """The browser, looked up before the tiny run (session scope, listed before `project`, which pytest then
    sets up second): a test that will skip does not train first."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium not found in CI: .ci/run installs it (apt-get install chromium)")
        pytest.skip("needs chromium (Debian: apt-get install chromium)")
    return binary


class Chromium:
    """Headless chromium over --remote-debugging-pipe: it reads commands from fd 3, writes replies to fd 4,
    one JSON message per NUL-terminated frame."""

    def __init__(self, binary: str, timeout: float = 60.0):
        self.timeout = timeout
        to_child, self._out = os.pipe()
        self._in, from_child = os.pipe()
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-")

        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start; --disable-dev-shm-usage:
        # containers often mount a small /dev/shm, which crashes renderers. bash moves the pipe ends to fds 3
        # and 4 (dash takes one-digit fds only); no preexec_fn, since Python code between fork and exec is
        # unsafe once JAX's threads run.
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{to_child} 4>&{from_child}', "bash",
             binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}", "--window-size=1400,1000",
             "about:blank"],
            pass_fds=(to_child, from_child), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child)
        os.close(from_child)
        self._buf, self._id, self._events = b"", 0, []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", session=self.session)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}, **({"sessionId": session} if session else {})}
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"chromium {method}: {reply['error']}")
                return reply["result"]
            self._events.append(reply)

    def open(self, url: str) -> None:
        self._events.clear()
        self.send("Page.navigate", {"url": url}, session=self.session)
        while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
            self._events.append(self._read())

    def evaluate(self, expression: str):
        """The value of `expression` in the page, awaited if it is a promise."""
        res = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True},
                        session=self.session)
        if "exceptionDetails" in res:
            raise RuntimeError(f"page script failed: {res['exceptionDetails']}")
        return res["result"]["value"]

    def _read(self) -> dict:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError(f"chromium sent nothing for {self.timeout} s")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium closed its pipe (exit code {self.proc.poll()})")
            self._buf += chunk
        frame, self._buf = self._buf.split(b"\0", 1)
        return json.loads(frame)

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.proc.wait(10)
        except (OSError, RuntimeError, TimeoutError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._out)
            os.close(self._in)
            self._profile.cleanup()


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.mark.slow
def test_report_opens_in_chromium_and_every_figure_renders_with_its_numbers(chromium, project, tmp_path):
    report = tmp_path / "report.html"
    # --cores: some rules size their threads from the total (rules/data.smk), which --report also evaluates.
    snakemake(project, "--cores", "1", "--report", str(report))
    res = project / "results"
    browser = Chromium(chromium)
    try:
        browser.open(report.as_uri())
        records = browser.evaluate(PROBE)
        summary_uri = browser.evaluate('results["results/summary/summary.html"].data_uri')
        browser.open(summary_uri)
        summary_cells = browser.evaluate('[...document.querySelectorAll("td")].map(td => td.innerText)')
    finally:
        browser.close()

    assert not [r for r in records if "error" in r], records
    shown = {r["path"]: r for r in records}
    # Every figure the run made is in the report (and nothing else but the summary page).
    figures = {str(p.relative_to(project)) for p in res.rglob("*.png")}
    assert len(figures) == 7 and set(shown) == figures | {"results/summary/summary.html"}
    for path in figures:
        r = shown[path]
        assert r["shown"] and r["decoded"], r
        assert (r["width"], r["height"]) == _png_size(project / path), path
        # Not blank: axes, lines and labels cover some of the figure and vary its brightness.
        assert r["ink_fraction"] > 0.02 and r["luminance_std"] > 5, r
        caption = r["caption"] or ""
        assert "Numbers" in caption, (path, caption)
        assert not any(bad in caption for bad in ("{{", "}}", "{%", "TBD", "None")), (path, caption)
    assert shown["results/summary/summary.html"]["shown"]

    # Caption numbers agree with the artifacts they quote.
    horizon = json.loads((res / "fourier/frontier/horizon.json").read_text())
    lhat = json.loads((res / "fourier/optimal/lhat.json").read_text())
    stats = json.loads((res / "fourier/optimal/summary.json").read_text())
    gamma = sm.fmt_se(horizon["gamma"], horizon["exponent_se"])
    ratio = sm.fmt_ci(stats["mean_ratio_raw"], *stats["mean_ratio_raw_ci"])
    assert gamma in shown["results/fourier/figures/frontier.png"]["caption"]
    l_hat = sm.fmt_ci(lhat["l_hat"], *lhat["ci"]["l_hat"])
    assert l_hat in shown["results/fourier/optimal/figures/curves.png"]["caption"]
    for name in ("fourier/optimal/figures/deviation.png", "fourier/optimal/figures/collapse.png",
                 "fourier/figures/studies.png"):
        assert ratio in shown[f"results/{name}"]["caption"], name
    assert "γ*" in shown["results/theory/theory.png"]["caption"]
    # The summary page, as the report's iframe loads it, holds the same numbers.
    assert gamma in summary_cells and ratio in summary_cells
