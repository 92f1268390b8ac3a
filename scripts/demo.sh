#!/usr/bin/env bash
# Install everything, then open JupyterLab on the demo notebook (offline, bundled models).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
root_flag=""
[ "$(id -u)" = 0 ] && root_flag="--allow-root"
exec .venv/bin/jupyter lab $root_flag "$@" notebooks/01_similarity_overlays.ipynb
