#!/usr/bin/env bash
# Install everything into ./.venv: PyTorch, this package (its pip install runs the npm
# build of js/ into xai_widgets/static/) and the test tools. With --browser, also
# Debian's Chromium for the browser tests (never a browser download of Playwright's own).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The small CPU build of torch when the machine has it; any torch otherwise.
.venv/bin/python -c "import torch" 2>/dev/null \
  || .venv/bin/python -m pip install -q "torch==2.13.0" \
  || .venv/bin/python -m pip install -q torch
.venv/bin/python -m pip install -q -e ".[test]"
