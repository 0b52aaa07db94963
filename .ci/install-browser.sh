#!/usr/bin/env bash
# Install what the browser tests need: Debian's chromium (apt-get) and Playwright's Python
# package. No Playwright browser download: the tests drive /usr/bin/chromium directly.
# Idempotent: each step is skipped when its piece is already present.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

if command -v chromium >/dev/null 2>&1; then
  echo "chromium: already installed ($(chromium --version 2>/dev/null || echo unknown version))"
else
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
fi

if "$PYTHON" -c "import playwright" >/dev/null 2>&1; then
  echo "playwright: already installed"
else
  "$PYTHON" -m pip install --quiet "playwright>=1.40"
fi
