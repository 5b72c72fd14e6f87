#!/usr/bin/env bash
# System tools the test suite drives (README's test command and .ci/run call this first).
# As root (CI, a fresh machine) the missing ones are installed from Debian's packages; otherwise
# the tests that need them fail loudly, naming the package to install.
set -u
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)   # renders the HTML report
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "tests/system_deps.sh: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or the tests that use them fail" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
