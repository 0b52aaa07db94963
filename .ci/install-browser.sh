#!/usr/bin/env bash
# Install the browser for the report's browser tests: Debian's chromium (no Playwright browser
# download; the tests drive /usr/bin/chromium). Playwright's Python package comes with the
# project's `test` extra. Idempotent.
set -euo pipefail
exec bash "$(dirname "$0")/apt-install.sh" chromium fonts-dejavu-core
