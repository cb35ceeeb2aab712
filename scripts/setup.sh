#!/usr/bin/env bash
# Install everything the project needs into $PYTHON: torch (CPU build) first, then the package, editable, with
# its extras. Torch goes first so that pip never resolves `torch` to a multi-GB CUDA build on its own.
#
#   scripts/setup.sh [EXTRAS]        set up (EXTRAS defaults to dev); a no-op while build/setup.stamp is current
#   scripts/setup.sh --print-python  print the interpreter make should use, and nothing else
#
# The stamp holds a hash of pyproject.toml, this script, the interpreter and the extras: set-up runs again only
# when one of them changed or the package is no longer installed in that interpreter.
#
# Interpreter: $PYTHON if set; else python3 when a virtual environment is active or python3 may be installed
# into; else (python3 is an externally managed system Python, PEP 668) ./.venv, created here on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV_PYTHON=.venv/bin/python
STAMP=build/setup.stamp

print_python() {
    if [[ -n ${VIRTUAL_ENV:-} || -n ${CONDA_PREFIX:-} ]]; then
        echo python3
    elif [[ -x $VENV_PYTHON ]]; then
        echo "$VENV_PYTHON"
    elif [[ -z ${PIP_BREAK_SYSTEM_PACKAGES:-} ]] && python3 -c '
import os, sys, sysconfig
in_venv = sys.prefix != sys.base_prefix
managed = os.path.isfile(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
sys.exit(0 if managed and not in_venv else 1)' 2>/dev/null; then
        echo "$VENV_PYTHON"
    else
        echo python3
    fi
}

if [[ ${1:-} == --print-python ]]; then
    print_python
    exit 0
fi

EXTRAS=${1:-dev}
PY=${PYTHON:-$(print_python)}
START=$SECONDS
step() { printf '[setup %3ss] %s\n' "$((SECONDS - START))" "$*"; }

if [[ $PY == "$VENV_PYTHON" && ! -x $VENV_PYTHON ]]; then
    step "python3 is an externally managed system Python (PEP 668): creating a virtual environment in .venv"
    if ! python3 -m venv .venv; then
        rm -rf .venv
        echo "Error: python3 -m venv .venv failed." >&2
        echo "Hint: on Debian/Ubuntu, apt-get install python3-venv; or activate a virtual environment of your own" \
             "and run make again; or pass an interpreter: make PYTHON=/path/to/python" >&2
        exit 1
    fi
fi

# One interpreter start: the stamp's key, and whether torch and this package are installed.
read -r KEY HAVE_TORCH HAVE_PACKAGE < <("$PY" - "$EXTRAS" <<'EOF'
import hashlib
import importlib.metadata as metadata
import sys

digest = hashlib.sha256()
for path in ("pyproject.toml", "scripts/setup.sh"):
    with open(path, "rb") as f:
        digest.update(f.read())
digest.update(f"{sys.executable}\n{sys.version}\n{sys.argv[1]}".encode())


def installed(name: str) -> str:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return "no"
    return "yes"


print(digest.hexdigest(), installed("torch"), installed("weight_initialization_system"))
EOF
) || true
if [[ -z ${HAVE_PACKAGE:-} ]]; then
    echo "Error: could not run the interpreter PYTHON=$PY." >&2
    echo "Hint: install Python >= 3.10, or pass one: make PYTHON=/path/to/python" >&2
    exit 1
fi

if [[ -f $STAMP && $(cat "$STAMP") == "$KEY" && $HAVE_PACKAGE == yes ]]; then
    echo "[setup] up to date for $PY (delete $STAMP to force a re-install)"
    exit 0
fi

# pip's "Requirement already satisfied" lines are hidden: what is left is what it fetches and installs.
pip_install() { "$PY" -m pip install --progress-bar off "$@" 2>&1 | awk '!/^Requirement already satisfied/'; }

step "interpreter: $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"
if [[ $HAVE_TORCH == no ]]; then
    # A CPU wheel of torch 2.13.0 lies on the project's machines; elsewhere take the CPU build from PyTorch.
    step "installing torch 2.13.0, CPU build (about 200 MB: the longest step)"
    pip_install "torch==2.13.0" \
        || pip_install torch --index-url https://download.pytorch.org/whl/cpu
fi
step "installing weight_initialization_system (editable) with the [$EXTRAS] extras"
pip_install -e ".[${EXTRAS}]"
mkdir -p "$(dirname "$STAMP")"
echo "$KEY" >"$STAMP"
step "done; set-up runs again only when pyproject.toml or scripts/setup.sh changes"
