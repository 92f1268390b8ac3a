"""The demo command's URL opens the demo notebook itself, not JupyterLab's launcher."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from lab import _free_port

ROOT = Path(__file__).parent.parent.parent


def test_the_printed_url_opens_the_demo_notebook(page, tmp_path):
    port = _free_port()
    env = dict(os.environ, XW_SKIP_INSTALL="1", JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    # The server logs to a file, not a pipe: a pipe nobody reads fills up and blocks the server.
    log = tmp_path / "demo.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["bash", "scripts/demo.sh", "--no-browser", f"--port={port}"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        url, end = None, time.time() + 120
        while url is None and time.time() < end:
            assert proc.poll() is None, f"the demo command exited before printing its URL:\n{log.read_text()}"
            found = re.search(r"(http://127\.0\.0\.1:\d+/\S+)", log.read_text())
            if found:
                url = found.group(1)
            else:
                time.sleep(0.5)
        assert url, f"no URL printed within 2 minutes:\n{log.read_text()}"
        page.goto(url)
        page.wait_for_selector(".jp-NotebookPanel", timeout=90_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current')]"
            ".some((t) => t.textContent.includes('01_similarity_overlays.ipynb'))", timeout=60_000)
        assert page.locator(".jp-Launcher:visible").count() == 0, "the launcher is showing"
    finally:
        page.goto("about:blank")  # before the server goes: no half-loaded requests fail in the page
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # Jupyter Server sometimes hangs in its shutdown (jupyterlab#10442)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
