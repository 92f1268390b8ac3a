"""A real JupyterLab on 127.0.0.1 driven by headless Chromium, for the browser tests.

``JupyterLab`` starts a server in a temporary folder (``app="notebook"``: Jupyter Notebook 7);
``open_notebook`` writes a notebook there, opens it in a page, runs all cells and waits for the
kernel to go idle; ``kernel(...)`` connects a jupyter_client to the notebook's own kernel, so a test can
read or change the live widget's Python state while the page shows it.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat

CHROMIUM = "/usr/bin/chromium"
# The widget marks its host element once the first frame is painted.
PAINTED = "[data-xw-painted] .xw-similarity"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# JS run in the page: the colour at the centre of every cell of every panel,
# {"layer/image": [[r, g, b], ...]} for the grids {"layer/image": [h, w]} passed in.
READ_CELLS = """
([grids]) => {
  const out = {};
  for (const c of document.querySelectorAll('.xw-similarity canvas.xw-panel')) {
    const key = c.dataset.layer + '/' + c.dataset.image;
    if (!(key in grids)) continue;  // only the panels asked for
    const [h, w] = grids[key];
    const css = c.getBoundingClientRect();
    const sx = c.width / css.width, sy = c.height / css.height;
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const rgb = [];
    for (let r = 0; r < h; r++) for (let q = 0; q < w; q++) {
      const x = Math.floor((q + 0.5) * css.width / w * sx), y = Math.floor((r + 0.5) * css.height / h * sy);
      const i = 4 * (y * c.width + x);
      rgb.push([px[i], px[i + 1], px[i + 2]]);
    }
    out[key] = rgb;
  }
  return out;
}
"""

# JS run in the page: the colour at the centre of every cell of an h x w grid laid over the
# backing pixels of the canvas `selector`, [[r, g, b], ...] row-major.
READ_GRID = """
([selector, h, w]) => {
  const c = document.querySelector(selector);
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const out = [];
  for (let r = 0; r < h; r++) for (let q = 0; q < w; q++) {
    const x = Math.floor((q + 0.5) * c.width / w), y = Math.floor((r + 0.5) * c.height / h);
    const i = 4 * (y * c.width + x);
    out.push([px[i], px[i + 1], px[i + 2]]);
  }
  return out;
}
"""


@contextlib.contextmanager
def live_page(chromium, lab: JupyterLab | None, viewport=(1400, 1200), known_errors: tuple[str, ...] = ()):
    """A page for a notebook of the shared ``lab`` (or of another server: ``None``), with the times
    of the websocket frames it sends. On exit the page closes and the lab's kernels stop (later
    tests expect to find only their own), then assert the page raised no error but the front
    end's own ``known_errors`` (regexes searched in each error's message and stack)."""
    context = chromium.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: None if any(re.search(k, f"{e}\n{e.stack}") for k in known_errors)
            else errors.append(str(e)))
    sent: list[float] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda _f: sent.append(time.time())))
    try:
        yield page, sent
    finally:
        context.close()
        if lab is not None:
            lab.shutdown_kernels()
    assert not errors, f"uncaught errors in the page: {errors}"


@contextlib.contextmanager
def served(args: list[str], cwd: Path, env: dict, url: str, timeout: float = 90):
    """A server started with ``args`` in its own session, logging to ``cwd/server.log``, once
    ``url`` answers (an HTTP error status is an answer). On exit SIGTERM to its process group,
    SIGKILL after 20 s."""
    log = Path(cwd) / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        end = time.time() + timeout
        while True:
            assert proc.poll() is None, f"{args[:4]} exited:\n{log.read_text()[-3000:]}"
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                assert time.time() < end, f"{url} did not answer in {timeout:.0f} s:\n{log.read_text()[-3000:]}"
                time.sleep(0.3)
        yield log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def offline_page(chromium, path: Path, ready: str = PAINTED, viewport=(1200, 1000), output_width: int | None = None):
    """An exported page opened from disk with the network off; on exit, assert it raised no
    error and requested nothing but the file itself. ``output_width`` gives the widget exactly
    that many CSS px, as a notebook output of that width would (the viewport is made wider)."""
    if output_width is not None:
        viewport = (max(viewport[0], output_width + 40), viewport[1])
    context = chromium.new_context(offline=True, viewport={"width": viewport[0], "height": viewport[1]})
    if output_width is not None:
        context.add_init_script(
            "document.addEventListener('DOMContentLoaded', () => { const s = document.createElement('style');"
            f" s.textContent = '#xw-root {{ width: {int(output_width)}px; padding: 0; }}';"
            " document.head.appendChild(s); });")
    requests: list[str] = []
    context.route("**/*", lambda route: (requests.append(route.request.url), route.abort())
                  if not route.request.url.startswith(("file:", "blob:", "data:")) else route.continue_())
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(Path(path).as_uri())
    page.wait_for_selector(ready, timeout=20_000)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
    assert not requests, f"the exported page tried the network: {requests}"


class JupyterLab:
    """A JupyterLab (or, with ``app="notebook"``, Jupyter Notebook 7) server in a fresh temporary
    root folder."""

    def __init__(self, windowing: str = "none", app: str = "lab"):
        """``windowing="none"`` renders every cell, so tests can find any output by position;
        pass JupyterLab's own default ``"contentVisibility"`` to measure what users get."""
        self.app = app
        self.root = Path(tempfile.mkdtemp(prefix="xw-lab-"))
        self.runtime = self.root / ".runtime"
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        settings = self.root / ".settings"
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(self.root / ".cfg"), JUPYTER_RUNTIME_DIR=str(self.runtime),
                   JUPYTERLAB_SETTINGS_DIR=str(settings))
        tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
        tracker.parent.mkdir(parents=True)
        tracker.write_text(json.dumps({"windowingMode": windowing}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", app, "--no-browser", f"--port={self.port}", "--ip=127.0.0.1",
             "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
             f"--ServerApp.root_dir={self.root}", "--allow-root"]
            + (["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
               if app == "lab" else []),
            stdout=open(self.root / "lab.log", "w"), stderr=subprocess.STDOUT, env=env,
            start_new_session=True, cwd=str(self.root),
        )
        self._wait("/api", 90)

    def _wait(self, path: str, timeout: float) -> None:
        end = time.time() + timeout
        while time.time() < end:
            try:
                urllib.request.urlopen(self.base + path, timeout=2)
                return
            except Exception:
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not start; log:\n{(self.root / 'lab.log').read_text()[-3000:]}")

    def write_notebook(self, name: str, cells: list[str]) -> Path:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
        path = self.root / name
        nbformat.write(nb, path)
        return path

    def open_notebook(self, page, name: str, cells: list[str], timeout: float = 240) -> None:
        """Write, open (alone, in a workspace of its own) and run a notebook; raise with the
        cell's traceback if one fails."""
        self.write_notebook(name, cells)
        page.goto(f"{self.base}/lab/workspaces/{Path(name).stem}/tree/{name}" if self.app == "lab"
                  else f"{self.base}/notebooks/{name}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        page.wait_for_function(
            "() => document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status === 'idle'",
            timeout=120_000,
        )
        done = ("() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
                ".every(p => /\\[\\d+\\]/.test(p.textContent))")
        for attempt in range(3):  # the menu can be clicked before the kernel is ready: retry
            self._wait_kernel_idle()
            if page.query_selector(".jp-Dialog"):  # e.g. kernel selection: take the default
                page.click(".jp-Dialog .jp-mod-accept")
            page.click('.lm-MenuBar-itemLabel:text-is("Run")')
            page.click('.lm-Menu-itemLabel:text-is("Run All Cells")')
            try:
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
                    ".some(p => /\\[[\\d*]+\\]/.test(p.textContent))", timeout=15_000)
                break
            except Exception:
                if attempt == 2:
                    raise
        page.wait_for_function(done, timeout=timeout * 1000)
        errors = page.query_selector_all('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        for err in errors:
            text = err.inner_text()
            if "Error" in text or "Traceback" in text:
                raise AssertionError(f"a notebook cell failed:\n{text[:3000]}")

    def _wait_kernel_idle(self, timeout: float = 60) -> None:
        end = time.time() + timeout
        while time.time() < end:
            try:
                with urllib.request.urlopen(self.base + "/api/kernels") as r:
                    if any(k["execution_state"] == "idle" for k in json.load(r)):
                        return
            except OSError:  # the server can answer 500 while a kernel is starting
                pass
            time.sleep(0.3)
        raise RuntimeError("the notebook's kernel did not become idle")

    def kernel(self):
        """A jupyter_client connected to the (single) running kernel."""
        from jupyter_client import BlockingKernelClient

        with urllib.request.urlopen(self.base + "/api/kernels") as r:
            kernels = json.load(r)
        assert len(kernels) == 1, f"expected one kernel, found {len(kernels)}"
        client = BlockingKernelClient(connection_file=str(self.runtime / f"kernel-{kernels[0]['id']}.json"))
        client.load_connection_file()
        client.start_channels()
        client.wait_for_ready(timeout=30)
        return client

    def run(self, code: str, timeout: float = 60):
        """Execute ``code`` in the notebook's kernel; return the value of the last line (via JSON)."""
        client = self.kernel()
        try:
            out: list[str] = []
            reply = client.execute_interactive(
                code, timeout=timeout,
                output_hook=lambda msg: out.append(msg["content"].get("text", ""))
                if msg["msg_type"] == "stream" else None,
            )
            if reply["content"]["status"] != "ok":
                raise AssertionError(f"kernel code failed: {reply['content'].get('evalue')}")
            return "".join(out)
        finally:
            client.stop_channels()

    def shutdown_kernels(self) -> None:
        """Stop every running kernel (e.g. before opening the next notebook)."""
        with urllib.request.urlopen(self.base + "/api/kernels") as r:
            ids = [k["id"] for k in json.load(r)]
        for kid in ids:
            urllib.request.urlopen(urllib.request.Request(f"{self.base}/api/kernels/{kid}", method="DELETE"))

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)
