#!/usr/bin/env bash
# Install everything, then open JupyterLab on the demo notebook (offline, bundled models).
# The URL it prints opens the notebook itself. XW_SKIP_INSTALL=1 skips the install (tests).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${XW_SKIP_INSTALL:-}" = 1 ] || bash scripts/install.sh
root_flag=""
[ "$(id -u)" = 0 ] && root_flag="--allow-root"
exec .venv/bin/jupyter lab $root_flag --LabApp.default_url=/lab/tree/notebooks/01_similarity_overlays.ipynb "$@"
