#!/usr/bin/env bash
# Install everything the project needs into the current Python: torch (CPU build) first, then the package.
# Torch goes first so that pip never resolves `torch` to a multi-GB CUDA build on its own.
set -euo pipefail
PY=${PYTHON:-python3}
EXTRAS=${1:-dev}
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    # A CPU wheel of torch 2.13.0 lies on the project's machines; elsewhere take the CPU build from PyTorch.
    "$PY" -m pip install --quiet "torch==2.13.0" \
        || "$PY" -m pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu
fi
"$PY" -m pip install --quiet -e ".[${EXTRAS}]"
