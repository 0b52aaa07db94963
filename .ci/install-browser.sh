#!/usr/bin/env bash
# Install the browser for the report's browser tests: Debian's chromium (no Playwright browser
# download; the tests drive /usr/bin/chromium). Playwright's Python package comes with the
# project's `test` extra. Idempotent: skipped when chromium is already there.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

if command -v chromium >/dev/null 2>&1; then
  echo "chromium: already installed ($(chromium --version 2>/dev/null || echo unknown version))"
else
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
fi
