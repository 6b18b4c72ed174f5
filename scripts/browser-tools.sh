#!/usr/bin/env bash
# The web console's real-browser test (crates/saga-local/tests/console_browser.rs)
# drives Debian's headless chromium through chromedriver. This installs both
# (apt packages chromium and chromium-driver) when either is missing, as root
# on Debian/Ubuntu (CI is); anywhere else it says what to install and fails:
# the test itself also fails, never skips, without them.
#
#   bash scripts/browser-tools.sh            # part of `make test`
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have chromedriver && { have chromium || have chromium-browser; }; then
    exit 0
fi
if [[ "$(id -u)" == 0 ]] && have apt-get; then
    echo "browser-tools: installing chromium and chromium-driver (apt)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    have chromedriver || { echo "browser-tools: chromedriver still missing after apt-get install chromium-driver" >&2; exit 1; }
    exit 0
fi
echo "browser-tools: the console's browser test needs chromium and chromedriver on PATH (Debian: sudo apt-get install chromium chromium-driver; or set CHROME and CHROMEDRIVER)" >&2
exit 1
