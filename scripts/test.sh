#!/usr/bin/env bash
# Install everything (Chromium included), then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --browser
exec .venv/bin/python -m pytest "$@"
