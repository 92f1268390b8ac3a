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
    proc = subprocess.Popen(["bash", "scripts/demo.sh", "--no-browser", f"--port={port}"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        url, end = None, time.time() + 120
        while url is None and time.time() < end:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "the demo command exited before printing its URL"
            found = re.search(r"(http://127\.0\.0\.1:\d+/\S+)", line)
            url = found.group(1) if found else None
        assert url, "no URL printed within 2 minutes"
        page.goto(url)
        page.wait_for_selector(".jp-NotebookPanel", timeout=90_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current')]"
            ".some((t) => t.textContent.includes('01_similarity_overlays.ipynb'))", timeout=60_000)
        assert page.locator(".jp-Launcher:visible").count() == 0, "the launcher is showing"
    finally:
        page.goto("about:blank")  # before the server goes: no half-loaded requests fail in the page
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
