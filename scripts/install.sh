#!/usr/bin/env bash
# Install everything into ./.venv: PyTorch, this package with its LRP and Ray extras (its pip install runs the npm
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
# [lrp] brings zennit, which needs torchvision and so the torch build that matches it.
.venv/bin/python -m pip install -q -e ".[test,lrp,lime,ray]"
