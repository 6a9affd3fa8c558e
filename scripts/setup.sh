#!/usr/bin/env bash
# Installs everything Aula needs on Debian/Ubuntu with Python >= 3.11: system packages from apt
# (skipped when already present) and the project with its test extras from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

# gcc and libc6-dev build the packet sender's thread (media/_packet_sender.c) at pip install.
APT_PACKAGES=(redis-server chromium espeak-ng sox ca-certificates janus gcc libc6-dev)
PYTHON="${PYTHON:-python3}"
# ... with the Python headers: Debian's python3-dev, unless this Python has its own.
"$PYTHON" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || APT_PACKAGES+=(python3-dev)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "Aula needs Python 3.11 or newer"'
"$PYTHON" -m pip install -q --upgrade pip
# The CPU build of torch (for the summaries' sentence embeddings), before anything that depends on
# it: a plain `torch` requirement would fetch the CUDA build, gigabytes the server never uses.
# Where this pinned version is not at hand, the CPU index has it:
#   pip install torch --index-url https://download.pytorch.org/whl/cpu
"$PYTHON" -c 'import torch' 2>/dev/null || "$PYTHON" -m pip install -q "torch==2.13.0"
"$PYTHON" -m pip install -q -e ".[test]"
echo "setup: done ($("$PYTHON" -c 'import aiortc; print("aiortc", aiortc.__version__)'))"
