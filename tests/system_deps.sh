#!/usr/bin/env bash
# System tools the test suite drives (README's test command and .ci/run call this first).
# As root (CI, a fresh machine) the missing ones are installed from Debian's packages; otherwise
# the tests that need them fail loudly, naming the package to install.
set -u
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)   # renders the HTML report
command -v node >/dev/null 2>&1 || missing+=(nodejs)         # runs sigstore-js (interop tests)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v softhsm2-util >/dev/null 2>&1 || missing+=(softhsm2)  # PKCS#11 token (--key hsm:)
if [ ${#missing[@]} -ne 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "tests/system_deps.sh: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or the tests that use them fail" >&2
  else
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
# sigstore-js, pinned by tests/interop/js/package-lock.json (installed again when the lock changed)
js=tests/interop/js
if command -v npm >/dev/null 2>&1 && ! cmp -s "$js/package-lock.json" "$js/node_modules/.atlas-lock"; then
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.atlas-lock) ||
    echo "tests/system_deps.sh: 'npm ci' in $js failed; the sigstore-js interop tests will fail" >&2
fi
exit 0
